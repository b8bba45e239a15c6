"""`ray job submit --working-dir . -- python jobs/tune.py --data PREP --out RUNS [...]`: the search as a Ray job.

Thin on purpose: the job runs exactly what `sonovis tune` runs, joining the cluster
that `ray job submit` points it at (RAY_ADDRESS is set for the job's driver).
"""

import sys

from sonovis.cli import main

if __name__ == "__main__":
    sys.exit(main(["tune", *sys.argv[1:]]))
