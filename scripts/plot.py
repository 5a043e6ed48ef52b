#!/usr/bin/python3
"""Plots sparknet-mpi metrics files (`train --metrics run.jsonl`).

  scripts/plot.py RUN.jsonl [RUN2.jsonl ...] [--labels a,b,...] -o runs.png
      test accuracy and training loss against iteration and against wall time, and each run's
      time split (compute / communication / waiting / testing), one colour per run
  scripts/plot.py --experiments DIR
      the figures of bench/experiments/run.py from DIR/results.json and DIR/runs/: the speedup
      heat map, the crossover curves and the unequal-worker curves, as PNGs in DIR

Needs Debian's python3-matplotlib (scripts/install-deps.sh python3-matplotlib); run it with
/usr/bin/python3.
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

SPLIT = [("compute_s", "compute"), ("comm_s", "communication"), ("sync_wait_s", "waiting for ranks"),
         ("test_s", "testing"), ("data_wait_s", "waiting for data")]


def load(path):
    """(rounds, tests) of one metrics file."""
    rounds, tests = [], []
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "round_s" in r:
            rounds.append(r)
        elif r.get("test") == 0:
            tests.append(r)
    return rounds, tests


def save(fig, out):
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    print(f"plot: wrote {out}")


def plot_runs(paths, labels, out, title=None):
    fig, ax = plt.subplots(3, 3, figsize=(16, 12.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    splits = []
    for i, (path, label) in enumerate(zip(paths, labels)):
        rounds, tests = load(path)
        c = colors[i % len(colors)]
        if tests:
            acc = [t.get("accuracy") for t in tests]
            ax[0, 0].plot([t["iteration"] for t in tests], acc, "o-", color=c, label=label, ms=3)
            ax[0, 1].plot([t["wall_s"] for t in tests], acc, "o-", color=c, label=label, ms=3)
        if rounds:
            ax[1, 0].plot([r["iteration"] for r in rounds], [r["loss"] for r in rounds], color=c, label=label, lw=1)
            ax[1, 1].plot([r.get("wall_s", np.nan) for r in rounds], [r["loss"] for r in rounds], color=c,
                          label=label, lw=1)
        splits.append([sum(r.get(k, 0) or 0 for r in rounds) for k, _ in SPLIT])
    for a, (x, y) in zip([ax[0, 0], ax[0, 1], ax[1, 0], ax[1, 1]],
                         [("iteration (rank 0)", "test accuracy"), ("wall time since start (s)", "test accuracy"),
                          ("iteration (rank 0)", "training loss (round mean)"),
                          ("wall time since start (s)", "training loss (round mean)")]):
        a.set_xlabel(x)
        a.set_ylabel(y)
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    # The time split: one horizontal stacked bar per run (sums over rounds of the per-round maxima).
    sp = ax[0, 2]
    left = np.zeros(len(paths))
    split_colors = ["#4c72b0", "#dd8452", "#c44e52", "#8172b3", "#937860"]
    for j, (_, name) in enumerate(SPLIT):
        v = np.array([s[j] for s in splits])
        sp.barh(range(len(paths)), v, left=left, color=split_colors[j], label=name)
        left += v
    sp.set_yticks(range(len(paths)))
    sp.set_yticklabels(labels, fontsize=8)
    sp.invert_yaxis()
    sp.set_xlabel("seconds, summed over rounds")
    sp.set_title("time split per run")
    sp.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    # Per-round communication share of the first run with rounds.
    sh = ax[1, 2]
    for i, (path, label) in enumerate(zip(paths, labels)):
        rounds, _ = load(path)
        if rounds:
            share = [(r["comm_s"] + r["sync_wait_s"]) / r["round_s"] if r["round_s"] > 0 else 0 for r in rounds]
            sh.plot([r["iteration"] for r in rounds], share, color=colors[i % len(colors)], lw=1, label=label)
    sh.set_xlabel("iteration (rank 0)")
    sh.set_ylabel("(communication + waiting) / round time")
    sh.set_ylim(0, 1.02)
    sh.grid(alpha=0.3)
    sh.legend(fontsize=8)
    # Per round: bytes exchanged and the bandwidth achieved (bytes / comm_s), and the bytes over
    # wall time (runs written before these fields existed have none to show).
    for i, (path, label) in enumerate(zip(paths, labels)):
        rounds = [r for r in load(path)[0] if "bytes" in r]
        if not rounds:
            continue
        c = colors[i % len(colors)]
        it = [r["iteration"] for r in rounds]
        ax[2, 0].plot(it, [r["bytes"] / 1e6 for r in rounds], color=c, lw=1, label=label)
        ax[2, 1].plot(it, [r["bandwidth_gbps"] if r["comm_s"] > 0 else np.nan for r in rounds], color=c, lw=1,
                      label=label)
        ax[2, 2].plot([r.get("wall_s", np.nan) for r in rounds], np.cumsum([r["bytes"] / 1e6 for r in rounds]),
                      color=c, lw=1, label=label)
    for a, (x, y) in zip(ax[2], [("iteration (rank 0)", "MB exchanged per round (per rank)"),
                                 ("iteration (rank 0)", "achieved bandwidth, Gbit/s (bytes / comm_s)"),
                                 ("wall time since start (s)", "MB exchanged so far (per rank)")]):
        a.set_xlabel(x)
        a.set_ylabel(y)
        a.grid(alpha=0.3)
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    save(fig, out)


def speedup_heatmap(res, out):
    sp = res["speedup"]
    cfg = sp["config"]
    ks, taus = cfg["ks"][1:], cfg["taus"]
    accs = cfg["accuracies"]
    fig, axes = plt.subplots(1, len(accs), figsize=(6.5 * len(accs), 0.9 * len(ks) + 2.6), squeeze=False)
    for ax, a in zip(axes[0], accs):
        m = np.full((len(ks), len(taus)), np.nan)
        for c in sp["cells"]:
            s = c["by_accuracy"][str(a)]["speedup"]
            if s:
                m[ks.index(c["k"]), taus.index(c["tau"])] = s[0]
        vmax = max(np.nanmax(m) if np.isfinite(m).any() else 1, max(ks))
        cmap = plt.get_cmap("viridis").copy()
        cmap.set_bad("#d0d0d0")
        im = ax.imshow(np.ma.masked_invalid(m), cmap=cmap, vmin=0, vmax=vmax, aspect="auto")
        for i in range(len(ks)):
            for j in range(len(taus)):
                v = m[i, j]
                txt = f"{v:.2f}" if np.isfinite(v) else "not\nreached"
                ax.text(j, i, txt, ha="center", va="center", fontsize=9,
                        color="white" if np.isfinite(v) and v < 0.6 * vmax else "black")
        ax.set_xticks(range(len(taus)))
        ax.set_xticklabels(taus)
        ax.set_yticks(range(len(ks)))
        ax.set_yticklabels(ks)
        ax.set_xlabel("tau (local iterations per round)")
        ax.set_ylabel("K (ranks)")
        na = sp["n_a"][str(a)]
        seeds = len(sp["config"].get("seeds", [])) or 1
        ax.set_title(f"speedup in iterations to accuracy {a}\n(N_a = {na} iterations on one rank; "
                     + (f"median of {seeds} seeds)" if seeds > 1 else "one seed)"))
        fig.colorbar(im, ax=ax, label="N_a / (tau · M_a)")
    save(fig, out)


def crossover_curves(res, out):
    cr = res["crossover"]
    cfg = cr["config"]
    delays = cfg["delays"]
    fig, axes = plt.subplots(1, len(cfg["ks"]), figsize=(6.5 * len(cfg["ks"]), 5), squeeze=False)
    # S = 0 cannot sit on a log axis: it is drawn one decade left of the smallest S > 0.
    pos = [d if d > 0 else min(x for x in delays if x > 0) / 10 for d in delays] if len(delays) > 1 else [1]
    markers = ["o", "s", "^", "D", "v"]
    for ax, k in zip(axes[0], cfg["ks"]):
        for i, mode in enumerate(cfg["modes"]):
            rows = [next(x for x in cr["rows"] if x["k"] == k and x["mode"] == mode and x["delay"] == d)
                    for d in delays]
            ys = [r["wall"][0] if r["wall"] else np.nan for r in rows]
            lo = [r["wall"][0] - r["wall"][1] if r["wall"] else 0 for r in rows]
            hi = [r["wall"][2] - r["wall"][0] if r["wall"] else 0 for r in rows]
            tau = rows[0]["tau"]
            label = f"{mode} (every {tau} it)"
            line = ax.errorbar(pos, ys, yerr=[lo, hi], marker=markers[i % len(markers)], capsize=3, label=label)
            # Runs out of budget: an open marker at the budget line.
            miss = [p for p, r in zip(pos, rows) if not r["wall"]]
            if miss:
                ax.plot(miss, [cfg["budget_s"]] * len(miss), markers[i % len(markers)], mfc="none",
                        color=line[0].get_color(), ms=9)
        ax.axhline(cfg["budget_s"], color="grey", ls=":", lw=1)
        ax.text(pos[0], cfg["budget_s"] * 1.05, f"budget {cfg['budget_s']} s (open marker: not reached)", fontsize=8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(pos)
        ax.set_xticklabels([f"{d:g}" for d in delays])
        ax.set_xlabel("S, simulated cost of one exchange (s)")
        ax.set_ylabel(f"wall time to test accuracy {cfg['accuracy']} (s)")
        c, clear = cr["crossover"].get(str(k)), cr.get("clear", {}).get(str(k))
        ax.set_title(f"K = {k}: average beats gradient at "
                     + (f"S = {c:g} s (medians)" if c is not None else "no measured S")
                     + (f", {clear:g} s (every seed)" if clear is not None else ""), fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    save(fig, out)


def cluster_curves(res, out):
    """Wall time to the accuracy against the link rate on the emulated cluster: measured (solid,
    min-max bars) and the sleep model's prediction (dashed), one panel per K."""
    cl = res["cluster"]
    cfg = cl["config"]
    bps = {"kbit": 1e3, "mbit": 1e6, "gbit": 1e9}
    x = [float(r[:-4]) * bps[r[-4:]] for r in cfg["rates"]]
    fig, axes = plt.subplots(1, len(cfg["ks"]), figsize=(6.5 * len(cfg["ks"]), 5), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    markers = ["o", "s", "^", "D", "v"]
    for ax, k in zip(axes[0], cfg["ks"]):
        for i, (mode, tau) in enumerate(cfg["modes"]):
            rows = [next(r for r in cl["rows"] if r["k"] == k and r["rate"] == rate and r["mode"] == mode
                         and r["tau"] == tau) for rate in cfg["rates"]]
            c, m = colors[i % len(colors)], markers[i % len(markers)]
            label = "gradient (overlapped)" if mode == "gradient" else f"{mode}, tau {tau}"
            ys = [r["wall"][0] if r["wall"] else np.nan for r in rows]
            lo = [r["wall"][0] - r["wall"][1] if r["wall"] else 0 for r in rows]
            hi = [r["wall"][2] - r["wall"][0] if r["wall"] else 0 for r in rows]
            ax.errorbar(x, ys, yerr=[lo, hi], marker=m, color=c, capsize=3, label=f"{label}: measured")
            ax.plot(x, [r["predicted"][0] if r["predicted"] else np.nan for r in rows], ls="--", marker=m,
                    mfc="none", color=c, label=f"{label}: sleep model")
            miss = [xx for xx, r in zip(x, rows) if not r["wall"]]
            if miss:
                ax.plot(miss, [cfg["budget_s"]] * len(miss), m, mfc="none", color=c, ms=10)
        ax.axhline(cfg["budget_s"], color="grey", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(x)
        ax.set_xticklabels(cfg["rates"])
        ax.set_xlabel("link rate (tc tbf, both directions)")
        ax.set_ylabel(f"wall time to test accuracy {cfg['accuracy']} (s)")
        ax.set_title(f"K = {k} emulated nodes x 1 rank (open marker on the dotted line: budget "
                     f"{cfg['budget_s']} s, not reached)", fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    save(fig, out)


def experiments(d):
    res = json.load(open(os.path.join(d, "results.json")))
    runs = os.path.join(d, "runs")
    if "speedup" in res:
        speedup_heatmap(res, os.path.join(d, "speedup_heatmap.png"))
    if "cluster" in res:
        cluster_curves(res, os.path.join(d, "cluster.png"))
    if "crossover" in res:
        crossover_curves(res, os.path.join(d, "crossover.png"))
        cfg = res["crossover"]["config"]
        k, s = max(cfg["ks"]), sorted(cfg["delays"])[len(cfg["delays"]) // 2]
        paths, labels = [], []
        for row in res["crossover"]["rows"]:
            p = os.path.join(runs, row["runs"][0] + ".jsonl")
            if row["k"] == k and row["delay"] == s and os.path.exists(p):
                paths.append(p)
                labels.append(f"{row['mode']} (every {row['tau']} it)")
        if paths:
            plot_runs(paths, labels, os.path.join(d, f"crossover_runs_k{k}_S{s:g}.png"),
                      f"K = {k}, simulated exchange cost S = {s:g} s: the runs behind one column of the crossover")
    if "unequal" in res:
        paths, labels = [], []
        for row in res["unequal"]["rows"]:
            p = os.path.join(runs, row["runs"][0] + ".jsonl")
            if os.path.exists(p):
                paths.append(p)
                labels.append(row["config"])
        cfg = res["unequal"]["config"]
        plot_runs(paths, labels, os.path.join(d, "unequal.png"),
                  f"K = {cfg['k']}, --slow-rank {cfg['slow']} (first seed of each configuration)")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="*", help="metrics files (train --metrics)")
    p.add_argument("--labels", help="comma-separated labels, one per file (default: file names)")
    p.add_argument("-o", "--output", help="the PNG to write")
    p.add_argument("--title")
    p.add_argument("--experiments", metavar="DIR", help="draw bench/experiments/run.py's figures in DIR")
    a = p.parse_args()
    if a.experiments:
        experiments(a.experiments)
        return
    if not a.files or not a.output:
        p.error("give metrics files and -o OUT.png (or --experiments DIR)")
    labels = a.labels.split(",") if a.labels else [os.path.basename(f).rsplit(".", 1)[0] for f in a.files]
    if len(labels) != len(a.files):
        p.error(f"{len(labels)} labels for {len(a.files)} files")
    for f in a.files:
        if not os.path.exists(f):
            sys.exit(f"plot: {f}: no such metrics file")
    plot_runs(a.files, labels, a.output, a.title)


if __name__ == "__main__":
    main()
