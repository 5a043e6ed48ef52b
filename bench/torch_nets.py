#!/usr/bin/python3
"""The bench nets in PyTorch: one train step = forward + backward + SGD step (momentum 0.9,
weight decay 5e-4), timed per step after warm-up.

Same layers, shapes and batch as bench/nets/*.prototxt (Caffe's ceil rounding in pooling, so
ceil_mode=True). Prints one JSON line: {"net", "threads", "torch", "ms": [per-step ms ...]}.

The deeper nets (alexnet, googlenet, resnet, resnet20_cifar) are built from their train prototxt
in bench/nets/ by bench/caffe_torch.py.

PyTorch's thread count is N for its own kernels (intra-op) and for the BLAS it calls: Debian's
PyTorch runs its GEMM-based convolutions and Linear layers in OpenBLAS, whose own thread pool is
sized from OPENBLAS_NUM_THREADS when the library loads (before this script could set it) and
otherwise takes every core. So this script sets OPENBLAS_NUM_THREADS and OMP_NUM_THREADS to N
before importing torch, and reports the cores the timed steps used (CPU time / wall time).

Usage: torch_nets.py --net NET --threads N [--iterations K] [--warmup W]
"""
import argparse
import json
import os
import time

DEEP = ["alexnet", "googlenet", "resnet", "resnet20_cifar"]


def lenet(nn):
    return nn.Sequential(
        nn.Conv2d(1, 20, 5), nn.MaxPool2d(2, 2, ceil_mode=True),
        nn.Conv2d(20, 50, 5), nn.MaxPool2d(2, 2, ceil_mode=True),
        nn.Flatten(), nn.Linear(800, 500), nn.ReLU(inplace=True), nn.Linear(500, 10)), (64, 1, 28, 28)


def cifar10_quick(nn):
    return nn.Sequential(
        nn.Conv2d(3, 32, 5, padding=2), nn.MaxPool2d(3, 2, ceil_mode=True), nn.ReLU(inplace=True),
        nn.Conv2d(32, 32, 5, padding=2), nn.ReLU(inplace=True), nn.AvgPool2d(3, 2, ceil_mode=True),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(inplace=True), nn.AvgPool2d(3, 2, ceil_mode=True),
        nn.Flatten(), nn.Linear(64 * 4 * 4, 64), nn.Linear(64, 10)), (100, 3, 32, 32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--net", required=True, choices=["lenet", "cifar10_quick"] + DEEP)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    a = ap.parse_args()
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(a.threads)
    import torch
    import torch.nn as nn
    import caffe_torch

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(1701)
    if a.net in DEEP:
        model, feeds = caffe_torch.build(os.path.join(os.path.dirname(__file__), "nets", f"{a.net}_train.prototxt"))

        def loss():
            return model(feeds)
    else:
        model, shape = (lenet if a.net == "lenet" else cifar10_quick)(nn)
        x = torch.rand(shape)                      # uniform noise, as `sparknet-mpi time` feeds
        y = torch.randint(0, 10, (shape[0],))
        loss_fn = nn.CrossEntropyLoss()

        def loss():
            return loss_fn(model(x), y)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

    def step():
        opt.zero_grad(set_to_none=False)
        loss().backward()
        opt.step()

    # at least --warmup steps and 0.3 s: OpenBLAS's workers spin for ~0.1 s after the library
    # loads, on the cores the timed steps need (the engine stops them; see Parallel.swift)
    t0 = time.perf_counter()
    done = 0
    while done < a.warmup or time.perf_counter() - t0 < 0.3:
        step()
        done += 1
    ms = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(a.iterations):
        t = time.perf_counter()
        step()
        ms.append((time.perf_counter() - t) * 1e3)
    cores = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    print(json.dumps({"net": a.net, "threads": a.threads, "torch": torch.__version__, "ms": ms,
                      "cores": round(cores, 3)}))


if __name__ == "__main__":
    main()
