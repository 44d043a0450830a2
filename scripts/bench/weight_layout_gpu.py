#!/usr/bin/env python3
"""Which weight layout cuBLAS reads faster at decode shapes: s2d stores every projection [in, out]
(x @ W, chosen for the CPU's GEMMs), HF stores [out, in] (x @ W^T). Times y = x @ W for both, in
bf16 on one GPU, for the Llama-2-7B projections at 1, 8 and 64 rows, each as the median of CUDA-event
timings over repeated calls after a warm-up, and prints the ratio and the bandwidth reached.

  python3 scripts/bench/weight_layout_gpu.py [--rows 1 8 64] [--iters 200] [--device cuda]
"""
import argparse
import statistics
import time

import torch

# Llama-2-7B: qkv fused [4096, 3 * 4096], o [4096, 4096], gate_up fused [4096, 2 * 11008],
# down [11008, 4096], head [4096, 32000].
SHAPES = {"qkv": (4096, 12288), "o": (4096, 4096), "gate_up": (4096, 22016), "down": (11008, 4096),
          "head": (4096, 32000)}


def time_ms(fn, iters, dev):
    for _ in range(10):
        fn()
    if dev.type != "cuda":  # a rehearsal without a GPU (S2D_GPU_REHEARSAL=1): the host's clock
        times = []
        for _ in range(iters):
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1e3)
        return statistics.median(times)
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


@torch.inference_mode()
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[1, 8, 64])
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    dev = torch.device(args.device)
    name = torch.cuda.get_device_name() if dev.type == "cuda" else args.device
    print(f"{name}, torch {torch.__version__}, bf16; median of {args.iters} calls")
    print("| rows | matrix [in, out] | s2d x @ W[in,out] us | HF x @ W[out,in]^T us | s2d / HF time | GB/s s2d, HF |")
    print("|---|---|---|---|---|---|")
    total = {}
    for rows in args.rows:
        for name, (k, n) in SHAPES.items():
            x = torch.randn(rows, k, device=dev, dtype=torch.bfloat16)
            w_in_out = torch.randn(k, n, device=dev, dtype=torch.bfloat16)  # s2d's packed layout
            w_out_in = w_in_out.t().contiguous()                           # HF's nn.Linear layout
            s = time_ms(lambda: x @ w_in_out, args.iters, dev)
            h = time_ms(lambda: x @ w_out_in.t(), args.iters, dev)
            gb = 2 * k * n / 1e9
            total.setdefault(rows, [0.0, 0.0])
            total[rows][0] += s
            total[rows][1] += h
            print(f"| {rows} | {name} [{k}, {n}] | {s * 1e3:.1f} | {h * 1e3:.1f} | {s / h:.2f} | "
                  f"{gb / (s / 1e3):.0f}, {gb / (h / 1e3):.0f} |")
    for rows, (s, h) in total.items():
        print(f"rows {rows}: one layer's projections plus the head, s2d layout {s * 1e3:.0f} us, HF layout "
              f"{h * 1e3:.0f} us ({s / h:.2f})")


if __name__ == "__main__":
    main()
