#!/usr/bin/python3
"""Projections of the cost model to 1,024 nodes (issue 18; docs/scaling.md).

  bench/scaling_projections.py [--out DIR] [--iterations N]

For LeNet, CIFAR-10 quick, ResNet-20 and AlexNet (bench/nets, their bench batches), `plan` times
C here (1 thread) once per net, then predicts every K and mode at 10 Gbit/s and 100 Gbit/s
(plus a 5 us per-hop latency variant), for a node of one such core and for a node 32 times as
fast (C/32: a 32-core node with perfect threading, the same batch per node). Writes DIR/projections.md, .json and .png (efficiency vs
K per mode). SPARKNET_BIN picks the binary; needs python3-matplotlib.
"""
import argparse
import csv
import io
import json
import os
import re
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BIN = os.environ.get("SPARKNET_BIN", os.path.join(REPO, ".build", "release", "sparknet-mpi"))
NETS = [("LeNet", "bench/nets/lenet_train.prototxt"),
        ("CIFAR-10 quick", "bench/nets/cifar10_quick_train.prototxt"),
        ("ResNet-20", "bench/nets/resnet20_cifar_train.prototxt"),
        ("AlexNet", "bench/nets/alexnet_train.prototxt")]
RATES = ["10gbit", "100gbit"]
NODES = "1,2,4,8,16,32,64,128,256,512,1024"
TAUS = "1,10,100"
NODE_KINDS = [("1 core", 1), ("32 cores", 32)]
ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1")


def plan(model, *args):
    out = subprocess.run([BIN, "plan", "--model", model, "--nodes", NODES, "--taus", TAUS] + list(args),
                         cwd=REPO, env=ENV, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        sys.exit(f"projections: plan {model} failed:\n{out.stderr}")
    return out.stdout


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=os.path.join(REPO, "docs", "experiments"))
    p.add_argument("--iterations", type=int, default=5)
    a = p.parse_args()
    results = []
    for name, model in NETS:
        table = plan(model, "--iterations", str(a.iterations))
        c_ms = float(re.search(r"^C = ([0-9.e+]+) ms", table, re.M).group(1))
        head = table.splitlines()[0]
        params = int(re.search(r": (\d+) parameters", head).group(1))
        batch = int(re.search(r"batch (\d+) per rank", head).group(1))
        print(f"{name}: C = {c_ms} ms, {params} parameters, batch {batch}", flush=True)
        for node, speed in NODE_KINDS:
            for rate in RATES:
                for lat in (0, 5):
                    rows = list(csv.DictReader(io.StringIO(plan(model, "--compute-ms", str(c_ms / speed), "--link-rate", rate,
                                                                "--latency-us", str(lat), "--format", "csv"))))
                    results.append(dict(net=name, model=model, c_ms=c_ms / speed, params=params, batch=batch, rate=rate,
                                        latency_us=lat, node=node, rows=rows))
    json.dump(results, open(os.path.join(a.out, "projections.json"), "w"), indent=1)

    # Markdown: efficiency at K = 8, 128, 1024 per net, rate, mode (no latency, then 5 us).
    md = ["# Projections of the cost model to 1,024 nodes", "",
          "`bench/scaling_projections.py`: C timed here by `plan` (1 thread, this machine's AMD EPYC core), "
          "S a ring allreduce at the link rate x 1448/1514 payload; efficiency = images/s over K x one node's.", "",
          "| net (batch/node, params) | node | C ms | link | hop latency | mode | K = 8 | K = 128 | K = 1024 |",
          "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        by = {}
        for row in r["rows"]:
            by[(row["mode"], int(row["K"]))] = row
        for mode, label in (("gradient", "gradient"), ("average", None), ("average (auto)", "auto (5 %)")):
            taus = [1] if mode == "gradient" else ([None] if mode == "average (auto)" else [10, 100])
            for tau in taus:
                cells = []
                for k in (8, 128, 1024):
                    row = next(x for x in r["rows"] if x["mode"] == mode and int(x["K"]) == k
                               and (tau is None or int(x["tau"]) == tau))
                    eff = float(row["efficiency"])
                    cells.append(f"{eff:.0%}" + (f" (tau {row['tau']})" if tau is None else ""))
                lab = label or f"average, tau {tau}"
                md.append(f"| {r['net']} ({r['batch']}, {r['params'] / 1e6:.2f} M) | {r['node']} | {r['c_ms']:.4g} | {r['rate']} | "
                          f"{r['latency_us']} us | {lab} | " + " | ".join(cells) + " |")
    open(os.path.join(a.out, "projections.md"), "w").write("\n".join(md) + "\n")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = [(node, rate) for node, _ in NODE_KINDS for rate in RATES]
    fig, axes = plt.subplots(len(panels), len(NETS), figsize=(16, 13), sharex=True, sharey=True)
    for i, (node, rate) in enumerate(panels):
        for j, (name, _) in enumerate(NETS):
            ax = axes[i][j]
            pick = lambda lat: next(x for x in results if x["net"] == name and x["rate"] == rate
                                    and x["latency_us"] == lat and x["node"] == node)
            r, r5 = pick(0), pick(5)
            for mode, tau, style, label in (("gradient", 1, "-", "gradient (every step)"),
                                            ("average", 10, "-", "average, tau 10"),
                                            ("average", 100, "-", "average, tau 100"),
                                            ("average (auto)", None, "--", "average, tau auto (5 %)")):
                for res, ls, suffix in ((r, style, ""), (r5, ":", ", 5 us/hop")):
                    if res is r5 and mode != "gradient":
                        continue
                    rows = [x for x in res["rows"] if x["mode"] == mode and (tau is None or int(x["tau"]) == tau)]
                    ax.plot([int(x["K"]) for x in rows], [float(x["efficiency"]) for x in rows], ls, marker=".",
                            label=label + suffix)
            ax.set_xscale("log", base=2)
            ax.set_ylim(0, 1.05)
            ax.set_title(f"{name}, {rate}, node = {node} (C {r['c_ms']:.3g} ms)", fontsize=9)
            ax.grid(alpha=0.3)
            if j == 0:
                ax.set_ylabel("scaling efficiency")
            if i == len(panels) - 1:
                ax.set_xlabel("nodes K")
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle("Predicted scaling efficiency (round = tau*C + S, ring allreduce); C measured on one core here")
    fig.tight_layout()
    fig.savefig(os.path.join(a.out, "projections.png"), dpi=90)
    print("\n".join(md))


if __name__ == "__main__":
    main()
