"""`ray job submit --working-dir . -- python jobs/prepare.py --corpus flickr8k --root DIR --out PREP [...]`.

Runs exactly what `sonovis prepare` runs, on the cluster the job was submitted to.
"""

import sys

from sonovis.cli import main

if __name__ == "__main__":
    sys.exit(main(["prepare", *sys.argv[1:]]))
