"""`ray job submit --working-dir . -- python jobs/ablate.py --data PREP --out DIR [...]`: the ablations as a Ray job.

Thin on purpose: the job runs exactly what `sonovis ablate` runs, joining the cluster
that `ray job submit` points it at (RAY_ADDRESS is set for the job's driver).
"""

import sys

from sonovis.cli import main

if __name__ == "__main__":
    sys.exit(main(["ablate", *sys.argv[1:]]))
