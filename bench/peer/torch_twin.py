#!/usr/bin/env python3
"""PyTorch eager twin of adabk's hardware benchmarks, for the same GPU and the same data.

Runs where PyTorch and CUDA are installed (the offline NVIDIA machine: see bench/hardware.sh);
adabk itself never imports it. fp32 throughout with TF32 off (matmul and cuDNN), eager mode,
default cuDNN settings, so the numbers compare with adabk's fp32 WGSL kernels.

  python3 bench/peer/torch_twin.py --data .cache/fashion-mnist --out results.json [--epochs 5]

Sections (each timed with CUDA events, median of repeats after warm-up):
  matmul     fp32 products 512³, 1024³, 4096³ (TFLOP/s)
  roots      the AdaBK reference inverse-root chain (10 power iterations, 10 coupled
             Newton–Schulz steps) on 512² and 1569² SPD matrices (ms)
  cnn_step   one training step of examples/fashion_cnn.yaml's network, batch 128, AdamW (ms)
  resnet_step one step of examples/fashion_resnet.yaml's network, batch 128, SGD Nesterov (ms)
  demo       examples/fashion_cnn.yaml's whole schedule (5 epochs, cosine + 100 warm-up steps,
             AdamW lr 2e-3 wd 0.05) on the cached Fashion-MNIST split: wall time, test accuracy
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
DEV = torch.device("cuda")


def cuda_ms(fn, reps=20, warmup=5):
    """Median GPU time of fn() in ms (CUDA events around each call)."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def bench_matmul():
    out = {}
    for n in (512, 1024, 4096):
        x = torch.randn(n, n, device=DEV)
        y = torch.randn(n, n, device=DEV)
        ms = cuda_ms(lambda: x @ y, reps=30 if n < 4096 else 10)
        out[f"{n}"] = {"ms": ms, "tflops": 2 * n**3 / ms / 1e9}
    return out


def reference_root(a, steps=10, power=10, eps=1e-5):
    """The published chain: λ from power iteration, A + ε·λ·I, trace-normalised coupled NS."""
    n = a.shape[0]
    v = torch.ones(n, 1, device=a.device)
    for _ in range(power):
        v = a @ v
        v = v / v.norm()
    lam = (v.T @ a @ v).squeeze()
    eye = torch.eye(n, device=a.device)
    ad = a + eps * lam * eye
    tau = torch.trace(ad)
    y = ad / tau
    z = eye.clone()
    for _ in range(steps):
        t = 0.5 * (3 * eye - z @ y)
        y = y @ t
        z = t @ z
    return z / torch.sqrt(tau)


def bench_roots():
    out = {}
    for n in (512, 1569):
        g = torch.randn(n, 4 * n, device=DEV)
        a = g @ g.T / (4 * n)
        out[f"{n}"] = {"ms": cuda_ms(lambda: reference_root(a), reps=10, warmup=2)}
    return out


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 10),
    ).to(DEV)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return F.relu(y + (x if self.short is None else self.short(x)))


def resnet():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        Block(32, 32, 1), Block(32, 64, 2), Block(64, 128, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10),
    ).to(DEV)


def step_ms(model, opt, batch=128):
    x = torch.randn(batch, 1, 28, 28, device=DEV)
    y = torch.randint(0, 10, (batch,), device=DEV)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return cuda_ms(step, reps=50, warmup=10)


def read_idx(path):
    with open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return torch.frombuffer(bytearray(data[4 + 4 * dims:]), dtype=torch.uint8).reshape(shape)


def demo(data_dir, epochs):
    """examples/fashion_cnn.yaml's schedule; data resident on the GPU, shuffled per epoch."""
    norm = lambda t: ((t.float() / 255 - 0.2860) / 0.3530).unsqueeze(1).to(DEV)
    xtr = norm(read_idx(os.path.join(data_dir, "train-images-idx3-ubyte")))
    ytr = read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte")).long().to(DEV)
    xte = norm(read_idx(os.path.join(data_dir, "t10k-images-idx3-ubyte")))
    yte = read_idx(os.path.join(data_dir, "t10k-labels-idx1-ubyte")).long().to(DEV)
    torch.manual_seed(0)
    model = cnn()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    batch, warm, base, min_lr = 128, 100, 2e-3, 1e-5
    per_epoch = math.ceil(len(ytr) / batch)
    total = per_epoch * epochs

    def lr_at(s):
        if s < warm:
            return base * (s + 1) / warm
        p = (s - warm) / max(1, total - warm)
        return min_lr + 0.5 * (base - min_lr) * (1 + math.cos(math.pi * p))

    torch.cuda.synchronize()
    t0 = time.perf_counter()
    step = 0
    accs = []
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(ytr), device=DEV)
        for i in range(per_epoch):
            idx = perm[i * batch:(i + 1) * batch]
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
            step += 1
        model.eval()
        with torch.no_grad():
            correct = sum((model(xte[j:j + 1000]).argmax(1) == yte[j:j + 1000]).sum().item()
                          for j in range(0, len(yte), 1000))
        accs.append(correct / len(yte))
    torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    return {"epochs": epochs, "steps": step, "wall_s": wall, "ms_per_step": 1000 * wall / step,
            "test_accuracy_per_epoch": accs}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=".cache/fashion-mnist")
    ap.add_argument("--out", default=None)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--only", default="matmul,roots,cnn_step,resnet_step,demo")
    args = ap.parse_args()
    res = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
           "tf32": False, "mode": "eager"}
    def cnn_step():
        m = cnn()
        return {"ms": step_ms(m, torch.optim.AdamW(m.parameters(), lr=2e-3, weight_decay=0.05))}

    def resnet_step():
        m = resnet()
        opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
        return {"ms": step_ms(m, opt)}

    sections = {
        "matmul": bench_matmul,
        "roots": bench_roots,
        "cnn_step": cnn_step,
        "resnet_step": resnet_step,
        "demo": lambda: demo(args.data, args.epochs),
    }
    for name in args.only.split(","):
        t = time.perf_counter()
        try:
            res[name] = sections[name]()
        except Exception as e:  # one failing section must not lose the others
            res[name] = {"error": f"{type(e).__name__}: {e}"}
        print(f"{name}: {json.dumps(res[name])} ({time.perf_counter() - t:.1f} s)", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
