"""How the cost of a linear layer's product grows with the rows it multiplies, on this machine.

A decode step multiplies each weight matrix by one row per answer in the batch. While reading the
weights is what limits it, more rows cost almost nothing more: that is what batching buys. Past
some number of rows the arithmetic limits it instead, and each row costs about as much as it
would alone. This prints, for a stack of Qwen3-0.6B-sized MLP layers (1024 -> 3072, packed for
oneDNN as alttext packs them on CPU), the weight bytes read per second and the time per row, in
bf16 (the writer) and fp32 (BLIP), for 1 to 32 rows. It depends on the machine: on the 2-core
machine of this project's earlier runs the bf16 time per row fell about ninefold from 1 row to 8
and by about a third more from 8 to 16, so batches above the default 8 gained little there; on
the 2-core machine of its latest runs (with AMX) it falls eightfold to 8 rows and halves again
to 16, and a batch of 16 is faster (see benchmarks/README.md).

    python benchmarks/bench_rows.py [--layers N] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ROWS = (1, 2, 4, 8, 12, 16, 24, 32)


def pass_through(stack: Any, x: Any, times: int) -> None:
    """Each layer's product of ``x``, ``times`` over, as a decode step makes them: one input for all."""
    for _ in range(times):
        for layer in stack:
            layer(x)


def main(argv: list[str] | None = None) -> int:
    import torch

    from alttext.pipeline.fast_path.packing import pack_linear_layers
    from alttext.pipeline.runtime import use_cpu_threads

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=40, help="layers in the stack (40: about 250 MB in bf16, far beyond the caches)")
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args(argv)
    use_cpu_threads()
    print(f"{args.layers} linear layers 1024 -> 3072, packed; {torch.get_num_threads()} threads")
    print(f"{'dtype':<10}{'rows':>6}{'GB/s read':>11}{'ms per row':>12}")
    for dtype in (torch.bfloat16, torch.float32):
        torch.manual_seed(0)
        stack = torch.nn.Sequential(*[torch.nn.Linear(1024, 3072, bias=False) for _ in range(args.layers)]).to(dtype).eval()
        size = sum(layer.weight.numel() * layer.weight.element_size() for layer in stack)
        pack_linear_layers(stack)
        with torch.inference_mode():
            for rows in ROWS:
                x = torch.randn(rows, 1024, dtype=dtype)
                pass_through(stack, x, 2)  # warm up: the kernels are chosen on first use
                started = time.perf_counter()
                pass_through(stack, x, args.repeat)
                seconds = (time.perf_counter() - started) / args.repeat
                print(f"{str(dtype).split('.')[-1]:<10}{rows:>6}{size / seconds / 1e9:>11.1f}{seconds / rows * 1e3:>12.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
