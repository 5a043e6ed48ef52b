#!/usr/bin/python3
"""Checks the output of bench/experiments/run.py (`make experiments-quick` runs it after the
quick experiments): every table and figure exists, and every number is in range.

  bench/experiments/check.py DIR
  bench/experiments/check.py --cluster DIR    (the cluster table alone)
"""
import json
import os
import sys

problems = []


def expect(cond, what):
    if not cond:
        problems.append(what)


def in_range(x, lo, hi):
    return isinstance(x, (int, float)) and lo <= x <= hi


def spread_ok(v, lo, hi):
    """A (median, min, max) triple within [lo, hi], min <= median <= max."""
    return v is None or (len(v) == 3 and all(in_range(x, lo, hi) for x in v) and v[1] <= v[0] <= v[2])


def main(d):
    for name in ["speedup.md", "crossover.md", "unequal.md", "results.json",
                 "speedup_heatmap.png", "crossover.png", "unequal.png"]:
        p = os.path.join(d, name)
        expect(os.path.exists(p) and os.path.getsize(p) > 0, f"{name} missing or empty")
        if name.endswith(".png") and os.path.exists(p):
            with open(p, "rb") as f:
                expect(f.read(8) == b"\x89PNG\r\n\x1a\n", f"{name} is not a PNG")
            expect(os.path.getsize(p) > 10_000, f"{name} is suspiciously small")
    if problems:
        return
    res = json.load(open(os.path.join(d, "results.json")))

    sp = res["speedup"]
    cfg = sp["config"]
    for a, n in sp["n_a"].items():
        expect(n is not None and in_range(n, 1, cfg["max_iter"]), f"speedup: N_a for a = {a} is {n}")
    expect(len(sp["cells"]) == (len(cfg["ks"]) - 1) * len(cfg["taus"]), "speedup: a cell is missing")
    for c in sp["cells"]:
        for a, x in c["by_accuracy"].items():
            expect(spread_ok(x["speedup"], 0.01, 100), f"speedup K={c['k']} tau={c['tau']} a={a}: {x['speedup']}")
            expect(spread_ok(x["iterations"], 1, cfg["max_iter"]), f"speedup iterations K={c['k']} tau={c['tau']}")
        expect(spread_ok(c["accuracy_at_budget"], 0, 1), f"speedup accuracy K={c['k']} tau={c['tau']}")
        expect(c["accuracy_at_budget"] is not None or c["stopped_before_budget"],
               f"speedup K={c['k']} tau={c['tau']}: no accuracy at the fixed budget")

    cr = res["crossover"]
    c = cr["config"]
    expect(len(cr["rows"]) == len(c["ks"]) * len(c["modes"]) * len(c["delays"]), "crossover: a cell is missing")
    expect(any(r["wall"] for r in cr["rows"]), "crossover: no run reached the accuracy")
    for r in cr["rows"]:
        expect(spread_ok(r["wall"], 0.01, c["budget_s"] + 60), f"crossover {r['mode']} S={r['delay']}: wall {r['wall']}")
        expect(spread_ok(r["iterations"], 1, c["max_iter"]), f"crossover {r['mode']} S={r['delay']}: iterations")
    # A run with S seconds per exchange spends at least S per exchange in communication.
    for r in cr["rows"]:
        if r["wall"] and r["comm_s"] and r["delay"] > 0:
            exchanges = r["iterations"][1] / r["tau"]
            expect(r["comm_s"][0] >= 0.9 * exchanges * r["delay"],
                   f"crossover {r['mode']} S={r['delay']}: comm_s {r['comm_s'][0]} < {exchanges} exchanges x S")

    un = res["unequal"]
    expect(any(r["wall"] for r in un["rows"]), "unequal: no run reached the accuracy")
    for r in un["rows"]:
        expect(spread_ok(r["wall"], 0.01, un["config"]["budget_s"] + 60), f"unequal {r['config']}: wall {r['wall']}")
        for steps in r["local_steps"]:
            expect(len(steps) == un["config"]["k"] and all(in_range(s, 1, 10**6) for s in steps),
                   f"unequal {r['config']}: local steps {steps}")
        if (r["config"].startswith("async-easgd") or "--round-seconds" in r["config"]) and "no slow" not in r["config"]:
            slow = int(un["config"]["slow"].split(":")[0])
            for steps in r["local_steps"]:
                expect(all(s > steps[slow] for i, s in enumerate(steps) if i != slow),
                       f"unequal {r['config']}: the slow rank {slow} did not make the fewest local steps: {steps}")


def check_cluster(d):
    """The cluster table (run.py --only cluster): its files, every cell measured or out of
    budget, every prediction at least the one-node time, the exchanges within the link's rate."""
    for name in ["cluster.md", "cluster.png", "results.json"]:
        p = os.path.join(d, name)
        expect(os.path.exists(p) and os.path.getsize(p) > 0, f"{name} missing or empty")
    if problems:
        return
    cl = json.load(open(os.path.join(d, "results.json")))["cluster"]
    c = cl["config"]
    expect(len(cl["rows"]) == len(c["ks"]) * len(c["rates"]) * len(c["modes"]), "cluster: a cell is missing")
    expect(any(r["wall"] for r in cl["rows"]), "cluster: no run reached the accuracy")
    for r in cl["rows"]:
        where = f"cluster K={r['k']} {r['rate']} {r['mode']} tau {r['tau']}"
        expect(spread_ok(r["wall"], 0.01, c["budget_s"] + 60), f"{where}: wall {r['wall']}")
        expect(r["predicted"] is None or r["local"] is None or r["predicted"][0] >= r["local"][0] * 0.999,
               f"{where}: prediction {r['predicted']} below the one-node time {r['local']}")
        expect(r["exchange_s"] > 0, f"{where}: exchange time {r['exchange_s']}")
    for l in cl["links"]:
        share = float((l["of_link"] or "0%").rstrip("%"))
        expect(0 < share <= 110, f"cluster K={l['k']} {l['rate']} {l['mode']}: bus bandwidth {share} % of the link")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--cluster"]
    if len(args) != 1:
        sys.exit(__doc__)
    (check_cluster if "--cluster" in sys.argv else main)(args[0])
    for p in problems:
        print("experiments check: " + p)
    print(f"experiments check: {'FAILED' if problems else 'ok'} ({sys.argv[1]})")
    sys.exit(1 if problems else 0)
