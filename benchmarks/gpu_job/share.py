"""What a job given a share of a GPU sees and can take: its visible devices, the memory CUDA
reports, whether it can allocate more than its share, and the bf16 matrix rate it gets while
another share runs beside it. benchmarks/accelerator.py runs two at once.

    python share.py [--seconds 15] [--take 0.45,0.6]

Prints `RESULT {json}` last.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--take", default="0.45,0.6", help="fractions of the device's memory")
    parser.add_argument("--size", type=int, default=8192)
    args = parser.parse_args()
    result: dict[str, object] = {
        "visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "cuda": torch.cuda.is_available(),
        "mps": {k: v for k, v in os.environ.items() if k.startswith("CUDA_MPS_")},
    }
    if torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info()
        result.update(device=torch.cuda.get_device_name(), free_gib=free / 2**30)
        result["total_gib"] = total / 2**30
        took, refused = [], []
        for fraction in map(float, args.take.split(",")):
            try:  # each fraction alone, the one before it freed
                held = torch.empty(int(total * fraction), dtype=torch.uint8, device="cuda")
                held.fill_(1)
                took.append(fraction)
                del held
            except torch.OutOfMemoryError:
                refused.append(fraction)
            torch.cuda.empty_cache()
        result.update(took=took, refused=refused)
        a = torch.randn(args.size, args.size, device="cuda", dtype=torch.bfloat16)
        b = torch.randn(args.size, args.size, device="cuda", dtype=torch.bfloat16)
        a @ b
        torch.cuda.synchronize()
        began, n = time.perf_counter(), 0
        result["began"] = time.time()
        while time.perf_counter() - began < args.seconds:
            for _ in range(20):
                a @ b
            torch.cuda.synchronize()
            n += 20
        took = time.perf_counter() - began
        result.update(ended=time.time(), tflops=2 * args.size**3 * n / took / 1e12)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
