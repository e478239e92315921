"""Training throughput of ResNet-50 (torchvision's structure, scripts/measure_saved_activations.py) on one GPU, as a
tuned PyTorch user runs it: channels_last, AMP bf16 or fp32 with TF32, SGD momentum, synthetic data already on the GPU
(no input pipeline: an upper bound for what the data loader must then feed), eager and torch.compile.

    python scripts/measure_gpu_cnn_throughput.py --out "$OUT"    (GPU machine; writes cnn_throughput.jsonl)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure_saved_activations import ResNet50  # noqa: E402


def run(precision: str, compiled: bool, batch: int, steps: int = 12) -> dict:
    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    model = ResNet50().cuda().to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    fwd = torch.compile(model) if compiled else model
    x = torch.randn(batch, 3, 224, 224, device="cuda").to(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (batch,), device="cuda")
    times = []
    for _ in range(steps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "amp_bf16"):
            loss = torch.nn.functional.cross_entropy(fwd(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times[4:])
    return {"model": "resnet-50", "precision": precision, "tf32": True, "channels_last": True, "compiled": compiled,
            "batch": batch, "step_s_median": round(med, 5), "images_per_s": round(batch / med, 1)}


def main() -> None:
    cli = argparse.ArgumentParser()
    cli.add_argument("--out", required=True)
    out = Path(cli.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0)}
    with (out / "cnn_throughput.jsonl").open("w") as f:
        f.write(json.dumps({"meta": meta}) + "\n")
        for precision, compiled, batch in (("amp_bf16", False, 256), ("fp32", False, 256), ("amp_bf16", True, 256)):
            row = run(precision, compiled, batch)
            f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
