"""Saved models scored on dev folders prepared after they were trained: other engines, rooms, microphones.

``benchmarks/voices.py --save DIR`` keeps each arm's last model; this scores every such model on
each ``--data NAME=PREP`` folder with ``sonovis evaluate``'s protocol (1,000 images, every dev
utterance) and writes one JSON: per model (its file stem), per folder, s→i and i→s R@1/5/10 and
median rank (with ``--by-voice`` also s→i per voice group), with the folder's engine and
evaluation condition from its manifest, so a table can say what each column was spoken by and
heard through.

    python benchmarks/rescore.py /work/runs/retrain-models/*.pt \\
        --data office=/work/prepared/dev-office --data pico-office=/work/prepared/dev-pico-office \\
        --out benchmarks/results/search/flickr8k-retrains/rescored.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from provenance import provenance  # benchmarks/ is on sys.path when run

from sonovis.train.evaluate import evaluate_checkpoint


def heard_as(prepared: Path) -> dict[str, str]:
    """What a prepared folder's dev utterances went through: the engine and the fixed evaluation condition."""
    speech = json.loads((prepared / "manifest.json").read_text())["config"]["speech"]
    return {"engine": speech["engine"], "eval_condition": speech["eval_condition"] or "clean"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", type=Path, help="checkpoints written by voices.py --save")
    parser.add_argument("--data", action="append", required=True, metavar="NAME=PREP",
                        help="a prepared folder of the same dev images to score on (repeatable)")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--by-voice", action="store_true",
                        help="also s→i per voice group, so a table can score each engine of a mixture apart")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    folders = {name: Path(path) for name, path in (item.split("=", 1) for item in args.data)}
    results: dict[str, dict[str, Any]] = {}
    for model in args.models:
        start = time.monotonic()
        results[model.stem] = {name: evaluate_checkpoint(model, path, args.split, args.by_voice)
                                 for name, path in folders.items()}
        print(f"{model.stem}: " + ", ".join(f"{name} s→i R@10 {r['s2i']['r10']:.1f}"
                                           for name, r in results[model.stem].items())
              + f"  ({time.monotonic() - start:.0f} s)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"data": {name: {"prepared": str(path), **heard_as(path)}
                                             for name, path in folders.items()},
                                    "split": args.split, "results": results,
                                    "provenance": provenance(sys.argv)}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
