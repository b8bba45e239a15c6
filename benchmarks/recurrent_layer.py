"""What the speech encoder's recurrent layer costs a training step: GRU and LSTM, float32 and bf16.

docs/results/speed.md explains the cheaper epoch (``model.rnn = "lstm"``, ``train.precision = "bf16"``)
by the kernels underneath: PyTorch's GRU on CPU runs each time step as separate small matrix products,
its LSTM goes through oneDNN's fused RNN kernel, which also has a bf16 form. This measures exactly
that, one thread, side by side in one run: the encoder's ``Recurrent`` layer (bidirectional, 128 conv
channels in, 128 hidden, a batch of default shape) forward and backward, as the product runs it. The
sides alternate within each repeat, so a busy moment hits all of them; the figure is each side's
median over repeats, and its ratio to the float32 GRU. One more side runs the GRU under autocast
*without* the product's guard (``float32_only``): what the guard avoids.

    .venv/bin/python benchmarks/recurrent_layer.py --out benchmarks/results/speed/recurrent-layer.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from provenance import provenance
from sonovis.model.encoders import Recurrent
from sonovis.train.trainer import uses_bf16

SIDES = {  # name -> (kind, bf16 autocast, keep the GRU's float32 guard)
    "GRU, float32": ("gru", False, True),
    "LSTM, float32": ("lstm", False, True),
    "GRU under bf16 autocast (the product keeps it float32)": ("gru", True, True),
    "LSTM, bf16": ("lstm", True, True),
    "GRU, bf16 (no guard)": ("gru", True, False),
}
BASE = "GRU, float32"


def step_ms(layer: Recurrent, x: torch.Tensor, lengths: torch.Tensor, bf16: bool, steps: int) -> float:
    """Mean milliseconds of one forward and backward pass over ``steps`` passes."""
    start = time.perf_counter()
    for _ in range(steps):
        layer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = layer(x, lengths)
        out.float().square().mean().backward()
    return (time.perf_counter() - start) / steps * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32, help="utterances a batch (train.batch_size's default)")
    parser.add_argument("--frames", type=int, default=50, help="time steps after the convolutions (4 s of speech)")
    parser.add_argument("--size", type=int, default=128, help="conv channels in and hidden units (the defaults)")
    parser.add_argument("--steps", type=int, default=20, help="passes timed per side and repeat")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.randn(args.batch, args.frames, args.size, requires_grad=True)
    lengths = torch.randint(args.frames // 2, args.frames + 1, (args.batch,))
    lengths[0] = args.frames
    layers = {}
    for name, (kind, _, guard) in SIDES.items():
        layers[name] = Recurrent(kind, args.size, args.size, layers=1, bidirectional=True, dropout=0.0)
        layers[name].float32_only = layers[name].float32_only and guard
    times: dict[str, list[float]] = {name: [] for name in SIDES}
    for name, (_, bf16, _) in SIDES.items():  # warm-up: oneDNN builds its kernels on first use
        step_ms(layers[name], x, lengths, bf16, 3)
    for _ in range(args.repeat):
        for name, (_, bf16, _) in SIDES.items():
            times[name].append(step_ms(layers[name], x, lengths, bf16, args.steps))
    median = {name: statistics.median(t) for name, t in times.items()}
    rows = [{"side": name, "median_ms": median[name], "min_ms": min(times[name]), "max_ms": max(times[name]),
             "ratio": median[name] / median[BASE]} for name in SIDES]
    print(f"one bidirectional layer, batch {args.batch} x {args.frames} steps, {args.size} -> {args.size}, "
          f"forward + backward, one thread, median of {args.repeat}")
    for r in rows:
        print(f"{r['side']:<56} {r['median_ms']:7.1f} ms  ({r['min_ms']:.1f}-{r['max_ms']:.1f})  "
              f"{r['ratio']:.2f} x the float32 GRU")
    if args.out:
        args.out.write_text(json.dumps({"shape": {"batch": args.batch, "frames": args.frames, "size": args.size},
                                        "steps": args.steps, "repeat": args.repeat, "rows": rows,
                                        "times_ms": times, "bf16_native": uses_bf16("auto"),
                                        "provenance": provenance(sys.argv)}, indent=1) + "\n")


if __name__ == "__main__":
    main()
