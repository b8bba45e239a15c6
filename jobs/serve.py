"""`python jobs/serve.py CHECKPOINT --data PREP [--host 127.0.0.1 --port 8000 --token ...]`: the page and API.

Thin on purpose: runs exactly what `sonovis serve` runs. As a Ray job (`ray job submit --working-dir .
-- python jobs/serve.py ...`) it serves from the node the driver lands on, usually the head; it needs no
Ray itself. A --host other than 127.0.0.1 needs --token or SONOVIS_SERVE_TOKEN.
"""

import sys

from sonovis.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
