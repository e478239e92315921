"""Measure the bytes autograd saves for backward, per sample, for ResNet-50, ViT-B/16 and BERT-large, from their real
layer graphs on the CPU (torch.autograd.graph.saved_tensors_hooks), and write knowledge/activation_profiles.json.

    .venv-training/bin/python scripts/measure_saved_activations.py [--out knowledge/activation_profiles.json]

ResNet-50 is built here with torchvision's structure (Bottleneck [3, 4, 6, 3], 25,557,032 parameters; torchvision
does not import beside torch 2.13 here); ViT-B/16 and BERT-large from transformers' config classes (random
weights, no download). What is counted: every tensor packed for backward during one training forward, unique
storages only (views share one), parameters excluded (they are counted as weights). Attention runs as SDPA with
attention dropout 0, so the CPU takes the flash path that keeps only q, k, v, output and log-sum-exp, as the GPU
flash/memory-efficient kernels do. `amp_bf16` runs the forward under torch.autocast("cpu", bfloat16).
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

import torch
from torch import nn


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet50(nn.Module):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._layer(64, 3)
        self.layer2 = self._layer(128, 4, stride=2)
        self.layer3 = self._layer(256, 6, stride=2)
        self.layer4 = self._layer(512, 3, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2048, num_classes)

    def _layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        down = None
        if stride != 1 or self.inplanes != planes * 4:
            down = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride=stride, bias=False), nn.BatchNorm2d(planes * 4))
        layers = [Bottleneck(self.inplanes, planes, stride, down)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def saved_bytes(model: nn.Module, run, amp: bool) -> int:  # noqa: ANN001
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in params and ptr not in seen:
            seen[ptr] = storage.nbytes()
        return t

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        if amp:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = run()
        else:
            out = run()
    del out
    return sum(seen.values())


def measure() -> dict:
    import transformers as tr

    torch.manual_seed(0)
    rows = []
    resnet = ResNet50()
    n_res = sum(p.numel() for p in resnet.parameters())
    for amp in (False, True):
        for b in (1, 4):
            x = torch.randn(b, 3, 224, 224)
            rows.append({"model": "resnet-50", "precision": "amp_bf16" if amp else "fp32", "batch": b, "tokens": 1,
                         "params": n_res, "saved_bytes": saved_bytes(resnet, lambda x=x: resnet(x), amp)})
    vit = tr.ViTForImageClassification(tr.ViTConfig(attention_probs_dropout_prob=0.0, attn_implementation="sdpa"))
    n_vit = sum(p.numel() for p in vit.parameters())
    for amp in (False, True):
        for b in (1, 2):
            x = torch.randn(b, 3, 224, 224)
            labels = torch.zeros(b, dtype=torch.long)
            rows.append({"model": "vit-b-16", "precision": "amp_bf16" if amp else "fp32", "batch": b, "tokens": 197,
                         "params": n_vit, "saved_bytes": saved_bytes(vit, lambda x=x, y=labels: vit(pixel_values=x, labels=y).loss, amp)})
    bert = tr.BertForMaskedLM(tr.BertConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                                            intermediate_size=4096, attention_probs_dropout_prob=0.0,
                                            attn_implementation="sdpa"))
    n_bert = sum(p.numel() for p in bert.parameters())
    for amp in (False, True):
        for b, s in ((1, 128), (1, 512), (2, 512)):
            ids = torch.randint(0, 30522, (b, s))
            rows.append({"model": "bert-large", "precision": "amp_bf16" if amp else "fp32", "batch": b, "tokens": s,
                         "params": n_bert, "saved_bytes": saved_bytes(bert, lambda i=ids: bert(input_ids=i, labels=i).loss, amp)})
    return {
        "source": {"made_by": "scripts/measure_saved_activations.py", "torch": torch.__version__,
                   "transformers": tr.__version__, "as_of": date.today().isoformat(),
                   "method": "torch.autograd.graph.saved_tensors_hooks on CPU, unique storages, parameters excluded"},
        "rows": rows,
    }


def main() -> None:
    cli = argparse.ArgumentParser()
    cli.add_argument("--out", default="knowledge/activation_profiles.json")
    out = Path(cli.parse_args().out)
    data = measure()
    out.write_text(json.dumps(data, indent=1) + "\n")
    for r in data["rows"]:
        print(f"{r['model']:10} {r['precision']:8} batch {r['batch']} tokens {r['tokens']:4}: "
              f"{r['saved_bytes'] / 2**20:9.1f} MiB saved ({r['saved_bytes'] / r['batch'] / 2**20:7.1f} MiB/sample)")


if __name__ == "__main__":
    main()
