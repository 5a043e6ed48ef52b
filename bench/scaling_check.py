#!/usr/bin/python3
"""Validates SparkNet's cost model on the emulated cluster (issue 18; docs/scaling.md).

  bench/scaling_check.py [--out DIR] [--only plan|auto] [--quick]

plan: on K = 2 and 4 emulated nodes x 1 rank, links shaped to 100 Mbit/s and 1 Gbit/s, `plan`
      (run across the nodes, so its C is timed with the ranks sharing this machine's cores as
      training does) predicts images/s; `train` measures it (LeNet on Fashion-MNIST, gradient
      mode without overlap and average mode at tau 10). Prediction within 15 % is the target.
auto: `train --tau auto` on 2 emulated nodes at 100 Mbit/s and 10 Gbit/s beside fixed tau 50
      (the default; fixed-tau weights do not depend on the link, so those runs use one node),
      for three seeds: the tau chosen, the measured share of the exchange, the final accuracy.

Needs root (network namespaces), the release binary and `make data`. Writes DIR/scaling_check.md
and .json (DIR: docs/experiments). SPARKNET_BIN picks the binary.
"""
import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
NET = "bench/experiments/lenet_train_test.prototxt"
SOLVER = os.path.join(REPO, "bench", "experiments", "lenet_solver.prototxt")
CLUSTER = os.path.join(REPO, "scripts", "emulated-cluster.sh")
BIN = os.environ.get("SPARKNET_BIN", os.path.join(REPO, ".build", "release", "sparknet-mpi"))
ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
           OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_plm_rsh_agent="false")


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def sh(cmd, timeout=900):
    out = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        sys.exit(f"scaling_check: {' '.join(cmd)} failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return out.stdout


def solver(work, name, **fields):
    text = open(SOLVER).read().splitlines()
    for key, value in fields.items():
        text = [f"{key}: {value}" if l.startswith(key + ":") else l for l in text]
    path = os.path.join(work, name + ".prototxt")
    open(path, "w").write("\n".join(text) + "\n")
    return path


def cluster(*args):
    return sh([CLUSTER] + [str(a) for a in args])


def train(work, name, k, args, on_cluster, **fields):
    """Runs train on K ranks; returns (metrics lines, log)."""
    metrics = os.path.join(work, name + ".jsonl")
    cmd = ["train", "--solver", solver(work, name, **fields), "--metrics", metrics] + args
    if on_cluster:
        out = cluster("mpirun", "-np", k, "-x", "OPENBLAS_NUM_THREADS=1", BIN, *cmd)
    else:
        out = sh(["mpirun", "--oversubscribe", "-np", str(k), "-x", "OPENBLAS_NUM_THREADS=1", BIN] + cmd)
    return [json.loads(l) for l in open(metrics) if l.strip()], out


def measured_rate(lines, skip=3):
    """Images/s over the rounds after the first `skip`, without tests or snapshots."""
    rounds = [r for r in lines if "round_s" in r][skip:]
    rounds = [r for r in rounds if r["test_s"] == 0 and r["snapshot_s"] == 0]
    images = sum(r["images_per_s"] * r["round_s"] for r in rounds)
    return images / sum(r["round_s"] for r in rounds), len(rounds)


def plan_rows(k, rate):
    csv = cluster("mpirun", "-np", k, "-x", "OPENBLAS_NUM_THREADS=1", BIN, "plan", "--model", NET,
                  "--link-rate", rate, "--nodes", k, "--taus", "10", "--format", "csv", "--iterations", "20")
    lines = [l for l in csv.splitlines() if l and l[0].isdigit()]
    rows = {}
    for l in lines:
        K, mode, tau, s_ms, round_ms, comm, ips, eff = l.split(",")
        rows[(mode, int(tau))] = dict(s_ms=float(s_ms), round_ms=float(round_ms), comm=float(comm), ips=float(ips))
    return rows


def check_plan(work, quick):
    cells = []
    ks = [2] if quick else [2, 4]
    rates = ["100mbit", "1gbit"]
    try:
        for k in ks:
            cluster("down")
            cluster("up", k, "--rate", rates[0])
            for rate in rates:
                cluster("rate", rate)
                plan = plan_rows(k, rate)
                for mode, tau, iters, extra in (("gradient", 1, 60 if rate == "100mbit" else 200, ["--bucket-mb", "0"]),
                                                ("average", 10, 300, [])):
                    lines, _ = train(work, f"plan_k{k}_{rate}_{mode}", k, ["--sync", mode, "--tau", "10"] + extra, True,
                                     max_iter=iters, test_interval=100000)
                    got, n = measured_rate(lines)
                    want = plan[(mode, tau)]
                    comm = [r for r in lines if "round_s" in r][3:]
                    cells.append(dict(k=k, rate=rate, mode=mode, tau=tau, predicted_ips=want["ips"], measured_ips=got,
                                      predicted_s_ms=want["s_ms"],
                                      measured_s_ms=1e3 * sum(r["comm_s"] for r in comm) / sum(max(1, r["iterations"] if mode == "gradient" else 1) for r in comm),
                                      predicted_round_ms=want["round_ms"], rounds=n,
                                      error=got / want["ips"] - 1))
                    log(f"plan K={k} {rate} {mode}: predicted {want['ips']:.0f} images/s, measured {got:.0f} ({cells[-1]['error']:+.1%})")
    finally:
        cluster("down")
    return cells


def check_fixed(work, quick):
    """Fixed tau: the default 50 and the taus auto settles on at 10 Gbit/s (5) and 100 Mbit/s (300)."""
    seeds = [1701] if quick else [1701, 1702, 1703]
    rows = []
    for tau in (50, 5, 300):
        for seed in seeds:
            lines, _ = train(work, f"fixed{tau}_s{seed}", 2, ["--sync", "average", "--tau", str(tau)], False,
                             random_seed=seed, max_iter=2000, test_interval=2000)
            acc = [r["accuracy"] for r in lines if "test" in r][-1]
            rows.append(dict(run=f"fixed tau {tau}", rate="any (one node)", seed=seed, accuracy=acc, taus=[tau], share=None))
            log(f"fixed tau {tau} seed {seed}: accuracy {acc:.4f}")
    return rows


def check_auto(work, quick):
    seeds = [1701] if quick else [1701, 1702, 1703]
    rows = []
    try:
        cluster("down")
        cluster("up", 2, "--rate", "100mbit")
        for rate in ["100mbit", "10gbit"]:
            cluster("rate", rate)
            for seed in seeds:
                lines, _ = train(work, f"auto_{rate}_s{seed}", 2, ["--sync", "average", "--tau", "auto"], True,
                                 random_seed=seed, max_iter=2000, test_interval=2000)
                choices = [r for r in lines if "tau_auto" in r]
                first = choices[0]["round"]
                after = [r for r in lines if "round_s" in r and r["round"] > first]
                share = sum(r["comm_s"] for r in after) / sum(r["round_s"] for r in after)
                acc = [r["accuracy"] for r in lines if "test" in r][-1]
                rows.append(dict(run="tau auto (5 %)", rate=rate, seed=seed, accuracy=acc, share=share,
                                 taus=[10] + [c["tau_auto"] for c in choices],
                                 c_ms=[1e3 * c["compute_step_s"] for c in choices],
                                 s_ms=[1e3 * c["exchange_s"] for c in choices]))
                log(f"auto {rate} seed {seed}: tau {rows[-1]['taus']}, share {share:.2%}, accuracy {acc:.4f}")
    finally:
        cluster("down")
    return rows


def markdown(plan, auto):
    md = ["# Validating the cost model on the emulated cluster", "",
          "`bench/scaling_check.py` (issue 18). LeNet on Fashion-MNIST, batch 64 per rank, 1 thread per rank, "
          "K emulated nodes x 1 rank on this 2-vCPU machine (so at K = 4 two ranks share a core, in `plan`'s "
          "timing of C as in training).", ""]
    if plan:
        md += ["## plan: predicted vs measured images/s", "",
               "`plan` runs across the same nodes (`scripts/emulated-cluster.sh mpirun -np K sparknet-mpi plan --link-rate R --nodes K`); "
               "`train` measures images/s over its rounds after the first three (gradient mode with `--bucket-mb 0`, as the model credits no overlap).", "",
               "| K | link | mode | predicted S ms | measured S ms | predicted images/s | measured images/s | error |",
               "|---|---|---|---|---|---|---|---|"]
        for c in plan:
            mode = "gradient" if c["mode"] == "gradient" else f"average, tau {c['tau']}"
            md.append(f"| {c['k']} | {c['rate']} | {mode} | {c['predicted_s_ms']:.1f} | {c['measured_s_ms']:.1f} | "
                      f"{c['predicted_ips']:.0f} | {c['measured_ips']:.0f} | {c['error']:+.1%} |")
        worst = max(abs(c["error"]) for c in plan)
        md += ["", f"Largest error: {worst:.1%} (target: within 15 %).", ""]
    if auto:
        md += ["## --tau auto on 2 emulated nodes", "",
               "Fixed taus ran on one node (their weights do not depend on the link). `tau`: the start (10), then each choice. "
               "Share: Σ comm_s / Σ round_s over the rounds after the first choice.", "",
               "| run | link | seed | tau: first choice; later checks | C ms at the first choice; later | S ms at the first choice; later | exchange share | final accuracy (2000 it) |",
               "|---|---|---|---|---|---|---|---|"]
        for r in auto:
            if r["share"] is None:
                md.append(f"| {r['run']} | {r['rate']} | {r['seed']} | {r['taus'][0]} |  |  |  | {r['accuracy']:.4f} |")
            else:
                t, c, s = r["taus"], r["c_ms"], r["s_ms"]
                span = lambda xs, f: f.format(xs[0]) if len(xs) == 1 else (f + "; then " + f + "–" + f).format(xs[0], min(xs[1:]), max(xs[1:]))
                taus = f"10 -> {t[1]}" + ("" if len(t) == 2 else f"; {len(t) - 2} checks after: {min(t[2:])}–{max(t[2:])}, last {t[-1]}")
                md.append(f"| {r['run']} | {r['rate']} | {r['seed']} | {taus} | {span(c, '{:.2f}')} | {span(s, '{:.1f}')} | "
                          f"{r['share']:.2%} | {r['accuracy']:.4f} |")
        md.append("")
        for name in sorted({r["run"] for r in auto}, key=lambda n: (n.startswith("tau"), n)):
            accs = [r["accuracy"] for r in auto if r["run"] == name]
            rates = sorted({r["rate"] for r in auto if r["run"] == name})
            for rate in rates:
                accs = sorted(r["accuracy"] for r in auto if r["run"] == name and r["rate"] == rate)
                md.append(f"- {name}, {rate}: accuracy {accs[len(accs) // 2]:.4f} (median), {accs[0]:.4f}–{accs[-1]:.4f} over the seeds")
        md.append("")
    return "\n".join(md)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=os.path.join(REPO, "docs", "experiments"))
    p.add_argument("--only", choices=["plan", "auto", "fixed"])
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("scaling_check: needs root (network namespaces; scripts/emulated-cluster.sh)")
    work = os.path.join(REPO, ".build", "scaling_check")   # metrics and solvers of the runs
    os.makedirs(work, exist_ok=True)
    path = os.path.join(a.out, "scaling_check.json")
    old = json.load(open(path)) if os.path.exists(path) else {}
    plan = check_plan(work, a.quick) if a.only in (None, "plan") else old.get("plan", [])
    auto = old.get("auto", [])
    if a.only in (None, "fixed"):
        auto = check_fixed(work, a.quick) + [r for r in auto if not r["run"].startswith("fixed")]
    if a.only in (None, "auto"):
        auto = [r for r in auto if r["run"].startswith("fixed")] + check_auto(work, a.quick)
    json.dump(dict(plan=plan, auto=auto), open(path, "w"), indent=1)
    open(os.path.join(a.out, "scaling_check.md"), "w").write(markdown(plan, auto))
    print(markdown(plan, auto))


if __name__ == "__main__":
    main()
