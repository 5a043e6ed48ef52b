#!/usr/bin/python3
"""SparkNet's experiments on LeNet / Fashion-MNIST (issue 9), measured with sparknet-mpi.

  bench/experiments/run.py [--quick] [--out DIR] [--only speedup,crossover,unequal|cluster|cluster-predict]

Three tables, each written as Markdown (DIR/<table>.md) and JSON (DIR/results.json), and the
PNGs (scripts/plot.py) beside them:
  speedup    Fig. 3 of the paper: speedup in iterations N_a / (tau * M_a) for K x tau, a in A
  crossover  Fig. 4: wall time to the target accuracy against the simulated exchange cost S
  unequal    K = 4 with one rank 3x slower: average, --round-seconds, async-easgd
  cluster    the crossover on real links: K nodes of the emulated cluster (scripts/emulated-cluster.sh,
             root only) with shaped links, beside the sleep model's prediction (not in the default
             --only; `make experiments-cluster`)
Every number is measured by a run. A run is capped by max_iter and a wall-clock budget; a cell
whose run ran out of budget says "not reached (> budget)". Runs are cached in DIR/runs (a run
whose metrics file ends with its local_steps record is not repeated), so an interrupted
experiment continues where it stopped.

Run from the repository root, after `make release data` (the Makefile's `experiments` target
does both). SPARKNET_BIN picks the binary (default .build/release/sparknet-mpi).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SOLVER = os.path.join(REPO, "bench", "experiments", "lenet_solver.prototxt")
NET = os.path.join(REPO, "bench", "experiments", "lenet_train_test.prototxt")
CLUSTER = os.path.join(REPO, "scripts", "emulated-cluster.sh")
BIN = [None]   # the binary under test (main sets it)

# Three seeds everywhere: every table reports the median and the spread (min-max).
FULL = dict(
    speedup=dict(ks=[1, 2, 4, 8], taus=[1, 5, 10, 20, 50, 100], accuracies=[0.80, 0.85],
                 seeds_k1=[1701, 1702, 1703], seeds=[1701, 1702, 1703], max_iter=800, budget_s=300,
                 fixed_budget_iter=200, test_iter=100, test_every=100),
    crossover=dict(ks=[2, 4], delays=[0, 0.001, 0.01, 0.1, 1.0],
                   modes=["gradient", "master", "average", "easgd", "async-easgd"],
                   accuracy=0.85, seeds=[1701, 1702, 1703], max_iter=1500, budget_s=200, test_iter=100, test_every=100),
    unequal=dict(k=4, slow="3:3", accuracy=0.85, seeds=[1701, 1702, 1703], max_iter=1500, budget_s=240,
                 test_iter=100, test_every=100),
    cluster=dict(ks=[2, 4], rates=["10mbit", "100mbit", "1gbit", "10gbit"],
                 modes=[["gradient", 1], ["average", 10], ["average", 100], ["easgd", 10]],
                 accuracy=0.85, seeds=[1701, 1702, 1703], max_iter=1500, budget_s=100, test_iter=100, test_every=100),
)
# A 2x2 corner of each table, small enough for `make test` (< 5 min on 2 cores).
QUICK = dict(
    speedup=dict(ks=[1, 2], taus=[10, 50], accuracies=[0.70, 0.75],
                 seeds_k1=[1701], seeds=[1701], max_iter=200, budget_s=90,
                 fixed_budget_iter=100, test_iter=20, test_every=25),
    crossover=dict(ks=[2], delays=[0, 0.01], modes=["gradient", "average"],
                   accuracy=0.75, seeds=[1701], max_iter=300, budget_s=90, test_iter=20, tau=50, test_every=50),
    unequal=dict(k=2, slow="1:3", accuracy=0.75, seeds=[1701], max_iter=300, budget_s=120,
                 test_iter=20, tau=50, configs=["average", "average --round-seconds", "async-easgd"], test_every=50),
    cluster=dict(ks=[2], rates=["100mbit", "1gbit"], modes=[["gradient", 1], ["average", 50]],
                 accuracy=0.75, seeds=[1701], max_iter=300, budget_s=90, test_iter=20, test_every=50),
)


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


class Runner:
    """Runs `sparknet-mpi train` and reads back its metrics file."""

    def __init__(self, out, binary):
        self.out = out
        self.bin = binary
        self.runs = os.path.join(out, "runs")
        os.makedirs(self.runs, exist_ok=True)

    def solver(self, seed, max_iter, test_iter, test_interval):
        """A copy of the experiments' solver; its net path is relative to the repository root,
        where every run starts."""
        path = os.path.join(self.runs, f"solver_s{seed}_m{max_iter}_t{test_iter}_i{test_interval}.prototxt")
        text = open(SOLVER).read()
        for key, value in (("random_seed", seed), ("max_iter", max_iter), ("test_iter", test_iter),
                           ("test_interval", test_interval)):
            lines = text.splitlines()
            lines = [f"{key}: {value}" if l.startswith(key + ":") else l for l in lines]
            text = "\n".join(lines) + "\n"
        with open(path, "w") as f:
            f.write(text)
        return path

    def run(self, name, k, mode="average", tau=50, seed=1701, max_iter=1000, budget_s=300,
            target=None, delay=0.0, slow=None, round_seconds=None, test_iter=100, test_interval=100,
            cluster_rate=None):
        """Returns the run's summary (dict). Cached by name. `cluster_rate`: on the emulated
        cluster that is up (K nodes x 1 rank), its links at that rate."""
        metrics = os.path.join(self.runs, name + ".jsonl")
        args = ["train", "--solver", self.solver(seed, max_iter, test_iter, test_interval),
                "--sync", mode, "--tau", str(tau), "--metrics", metrics]
        if target is not None:
            args += ["--target-accuracy", str(target)]
        if delay:
            args += ["--comm-delay", str(delay)]
        if slow:
            args += ["--slow-rank", slow]
        if round_seconds:
            args += ["--round-seconds", f"{round_seconds:.6f}"]
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
                   OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_plm_rsh_agent="false")
        if cluster_rate:
            cmd = [CLUSTER, "mpirun", "-np", str(k), "-x", "OPENBLAS_NUM_THREADS=1", self.bin] + args
        elif k == 1:
            cmd = [self.bin] + args
        else:
            cmd = ["mpirun", "--oversubscribe", "-np", str(k), "-x", "OPENBLAS_NUM_THREADS=1", self.bin] + args
        # From the repository root, as a reader would type it.
        shown = " ".join(c if c != self.bin else "sparknet-mpi" for c in cmd).replace(REPO + "/", "") + "\n"
        if cluster_rate:
            shown = f"scripts/emulated-cluster.sh up {k} --rate {cluster_rate}\n" + shown
        cmd_path = os.path.join(self.runs, name + ".cmd")
        # A cached run counts only if it ran this very command (a new best tau makes a new run).
        summary = read_metrics(metrics)
        if (summary and (summary["complete"] or summary["timed_out_marker"]) and os.path.exists(cmd_path)
                and open(cmd_path).read() == shown):
            return summary
        if os.path.exists(metrics):
            os.remove(metrics)
        with open(cmd_path, "w") as f:
            f.write(shown)
        start = time.monotonic()
        with open(os.path.join(self.runs, name + ".log"), "w") as logf:
            proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=logf, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            try:
                rc = proc.wait(timeout=budget_s)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 15)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, 9)
                    proc.wait()
                rc = "timeout"
        secs = time.monotonic() - start
        if rc == "timeout":
            with open(metrics, "a") as f:
                f.write(json.dumps({"timed_out": budget_s}) + "\n")
        elif rc != 0:
            sys.exit(f"experiments: run {name} failed (exit {rc}); see {self.runs}/{name}.log")
        summary = read_metrics(metrics)
        log(f"{name}: {'timed out' if rc == 'timeout' else 'done'} in {secs:.0f} s; "
            f"reached {summary['reached']}, last accuracy {summary['last_accuracy']}")
        return summary


def read_metrics(path):
    """The facts a table needs from one metrics file (None if there is none)."""
    if not os.path.exists(path):
        return None
    rows = []
    for line in open(path):
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                pass   # a line cut by a timeout
    tests = [r for r in rows if "test" in r and r.get("test") == 0]
    target = next((r for r in rows if "target" in r), None)
    steps = next((r for r in rows if "local_steps" in r), None)
    rounds = [r for r in rows if "round_s" in r]
    return dict(
        tests=[(t["iteration"], t["wall_s"], t.get("accuracy")) for t in tests],
        reached=target is not None,
        target_iteration=target["iteration"] if target else None,
        target_round=target["round"] if target else None,
        target_wall_s=target["wall_s"] if target else None,
        last_accuracy=tests[-1].get("accuracy") if tests else None,
        last_iteration=rounds[-1]["iteration"] if rounds else 0,
        local_steps=steps["local_steps"] if steps else None,
        complete=steps is not None,
        timed_out_marker=any("timed_out" in r for r in rows),
        comm_s=sum(r["comm_s"] for r in rounds), rounds=len(rounds),
        compute_per_iter=statistics.median(r["compute_s"] / r["iterations"] for r in rounds if r["iterations"]) if rounds else None,
    )


def first_reaching(summary, a):
    """(iteration, wall_s) of the first test with accuracy >= a, or None."""
    for it, wall, acc in summary["tests"]:
        if acc is not None and acc >= a:
            return it, wall
    return None


def accuracy_at(summary, iteration):
    for it, _, acc in summary["tests"]:
        if it == iteration:
            return acc
    return None


def med_spread(values):
    """'median' or 'median (min–max)' of the numbers; None if there are none."""
    if not values:
        return None
    m = statistics.median(values)
    return (m, min(values), max(values))


def fmt_ms(x, digits=2, unit=""):
    if x is None:
        return "—"
    m, lo, hi = x
    if lo == hi:
        return f"{m:.{digits}f}{unit}"
    return f"{m:.{digits}f}{unit} ({lo:.{digits}f}–{hi:.{digits}f})"


# ---------------------------------------------------------------------------------------------
def speedup(r, cfg, results):
    ks, taus, accs = cfg["ks"], cfg["taus"], cfg["accuracies"]
    top = max(accs)
    interval = lambda tau: max(tau, cfg["test_every"])
    base = {}
    for seed in cfg["seeds_k1"]:
        base[seed] = r.run(f"speedup_k1_s{seed}", 1, "average", 50, seed, cfg["max_iter"], cfg["budget_s"],
                           target=top, test_iter=cfg["test_iter"], test_interval=cfg["test_every"])
    n_a = {}
    for a in accs:
        its = [first_reaching(s, a)[0] for s in base.values() if first_reaching(s, a)]
        n_a[a] = statistics.median(its) if len(its) == len(base) else None
    cells = []
    for k in ks[1:]:
        for tau in taus:
            per_seed = []
            for seed in cfg["seeds"]:
                per_seed.append(r.run(f"speedup_k{k}_tau{tau}_s{seed}", k, "average", tau, seed, cfg["max_iter"],
                                      cfg["budget_s"], target=top, test_iter=cfg["test_iter"],
                                      test_interval=interval(tau)))
            cell = dict(k=k, tau=tau, seeds=cfg["seeds"], by_accuracy={})
            for a in accs:
                hits = [first_reaching(s, a) for s in per_seed]
                its = [h[0] for h in hits if h]
                reached = len(its) == len(per_seed)
                cell["by_accuracy"][str(a)] = dict(
                    iterations=med_spread(its) if reached else None,
                    rounds=med_spread([i / tau for i in its]) if reached else None,
                    speedup=med_spread([n_a[a] / i for i in its]) if reached and n_a[a] else None,
                    budget_iter=max(s["last_iteration"] for s in per_seed))
            accs_at = [accuracy_at(s, cfg["fixed_budget_iter"]) for s in per_seed]
            cell["accuracy_at_budget"] = med_spread([x for x in accs_at if x is not None])
            cell["stopped_before_budget"] = any(s["reached"] and s["target_iteration"] < cfg["fixed_budget_iter"]
                                                for s in per_seed)
            cells.append(cell)
    results["speedup"] = dict(config=cfg, n_a={str(a): n_a[a] for a in accs},
                              k1_iterations={str(a): [first_reaching(s, a)[0] if first_reaching(s, a) else None
                                                      for s in base.values()] for a in accs},
                              cells=cells)
    md = [f"# Speedup in iterations (LeNet, Fashion-MNIST, batch 64 per rank)\n",
          "speedup = N_a / (tau * M_a): N_a = iterations one rank needs to reach test accuracy a "
          f"(median of seeds {cfg['seeds_k1']}), M_a = rounds K ranks averaging every tau iterations need. "
          f"Tests every max(tau, {cfg['test_every']}) iterations on the {cfg['test_iter'] * 100} test images. Runs stop at "
          f"accuracy {top} or at {cfg['max_iter']} iterations / {cfg['budget_s']} s; seeds {cfg['seeds']} for K > 1.\n"]
    for a in accs:
        md.append(f"\n## a = {a}: N_a = {n_a[a] if n_a[a] is not None else 'not reached'} iterations "
                  f"(K = 1 seeds: {results['speedup']['k1_iterations'][str(a)]})\n")
        md.append("| K \\ tau | " + " | ".join(str(t) for t in taus) + " |")
        md.append("|---|" + "---|" * len(taus))
        for k in ks[1:]:
            row = []
            for tau in taus:
                c = next(c for c in cells if c["k"] == k and c["tau"] == tau)["by_accuracy"][str(a)]
                if c["speedup"]:
                    row.append(f"{fmt_ms(c['speedup'])}; {fmt_ms(c['iterations'], 0)} it")
                else:
                    row.append(f"not reached (> {c['budget_iter']} it)")
            md.append(f"| {k} | " + " | ".join(row) + " |")
    md.append(f"\n## Test accuracy after {cfg['fixed_budget_iter']} iterations\n")
    md.append("| K \\ tau | " + " | ".join(str(t) for t in taus) + " |")
    md.append("|---|" + "---|" * len(taus))
    k1 = med_spread([x for x in (accuracy_at(s, cfg["fixed_budget_iter"]) for s in base.values()) if x is not None])
    md.append(f"| 1 | " + " | ".join([fmt_ms(k1, 4)] * len(taus)) + " |")
    for k in ks[1:]:
        row = []
        for tau in taus:
            c = next(c for c in cells if c["k"] == k and c["tau"] == tau)
            row.append(fmt_ms(c["accuracy_at_budget"], 4) if c["accuracy_at_budget"] else
                       (f"≥ {top} (stopped earlier)" if c["stopped_before_budget"] else "—"))
        md.append(f"| {k} | " + " | ".join(row) + " |")
    write(r.out, "speedup.md", "\n".join(md) + "\n")


def best_tau(results, k, default):
    """The tau with the fewest iterations to the top accuracy at K = k (ties: the larger tau)."""
    sp = results.get("speedup")
    if not sp:
        return default
    top = str(max(sp["config"]["accuracies"]))
    best = None
    for c in sp["cells"]:
        if c["k"] != k or not c["by_accuracy"][top]["iterations"]:
            continue
        it = c["by_accuracy"][top]["iterations"][0]
        if best is None or it < best[0] or (it == best[0] and c["tau"] > best[1]):
            best = (it, c["tau"])
    return best[1] if best else default


def crossover(r, cfg, results):
    a = cfg["accuracy"]
    rows = []
    for k in cfg["ks"]:
        tau_best = cfg.get("tau") or best_tau(results, k, 50)
        for mode in cfg["modes"]:
            # gradient exchanges every iteration whatever tau; tau is only its metrics window.
            tau = 10 if mode == "gradient" else tau_best
            per_exchange = 1 if mode == "gradient" else tau
            for delay in cfg["delays"]:
                per_seed, skipped = [], None
                for seed in cfg["seeds"]:
                    # Synchronous modes: S changes no number (comm-delay only sleeps), so this run
                    # reaches a at the same iteration as the S = 0 run of the same seed. When the
                    # sleep alone over that run's exchanges exceeds the budget, the run is skipped.
                    base = r.runs and read_metrics(os.path.join(r.runs, f"cross_k{k}_{mode}_S0_s{seed}.jsonl"))
                    if delay and mode != "async-easgd" and base and base["reached"]:
                        exchanges = base["target_iteration"] / per_exchange
                        if exchanges * delay > cfg["budget_s"]:
                            skipped = f"{exchanges:.0f} exchanges x {delay} s = {exchanges * delay:.0f} s of sleep"
                            continue
                    per_seed.append(r.run(f"cross_k{k}_{mode}_S{delay:g}_s{seed}", k, mode, tau, seed,
                                          cfg["max_iter"], cfg["budget_s"], target=a, delay=delay,
                                          test_iter=cfg["test_iter"], test_interval=max(tau, cfg["test_every"])))
                walls = [s["target_wall_s"] for s in per_seed if s["reached"]]
                reached = per_seed and len(walls) == len(per_seed)
                rows.append(dict(k=k, mode=mode, tau=per_exchange, delay=delay,
                                 wall=med_spread(walls) if reached else None,
                                 iterations=med_spread([s["target_iteration"] for s in per_seed]) if reached else None,
                                 comm_s=med_spread([s["comm_s"] for s in per_seed]) if per_seed else None,
                                 skipped=skipped,
                                 runs=[f"cross_k{k}_{mode}_S{delay:g}_s{seed}" for seed in cfg["seeds"]]))
    # The crossover: the smallest S at which averaging every tau beats the per-step exchange, by
    # the medians (cross) and on every seed, the slowest average run ahead of the fastest
    # gradient run (clear). Between the two, the seeds disagree: a tie within the noise.
    cross, clear = {}, {}
    for k in cfg["ks"]:
        for delay in cfg["delays"]:
            g = next(x for x in rows if x["k"] == k and x["mode"] == "gradient" and x["delay"] == delay)
            av = next(x for x in rows if x["k"] == k and x["mode"] == "average" and x["delay"] == delay)
            if str(k) not in cross and av["wall"] and (not g["wall"] or av["wall"][0] < g["wall"][0]):
                cross[str(k)] = delay
            if str(k) not in clear and av["wall"] and (not g["wall"] or av["wall"][2] < g["wall"][1]):
                clear[str(k)] = delay
    results["crossover"] = dict(config=cfg, rows=rows, crossover=cross, clear=clear)
    md = [f"# Communication crossover: wall time to test accuracy {a}\n",
          f"S is the simulated cost of one exchange (`--comm-delay S`, a sleep on every rank in every exchange). "
          f"gradient exchanges every iteration; master, average, easgd and async-easgd every tau iterations "
          f"(tau = the best tau of the speedup table for that K). Budget per run: {cfg['max_iter']} iterations "
          f"or {cfg['budget_s']} s; seeds {cfg['seeds']}. Wall time in seconds from the start of training "
          f"(tests included), median (min–max).\n"]
    for k in cfg["ks"]:
        tau_best = cfg.get("tau") or best_tau(results, k, 50)
        md.append(f"\n## K = {k} (tau = {tau_best})\n")
        md.append("| mode \\ S | " + " | ".join(f"{d:g} s" for d in cfg["delays"]) + " |")
        md.append("|---|" + "---|" * len(cfg["delays"]))
        for mode in cfg["modes"]:
            cellsm = []
            for d in cfg["delays"]:
                x = next(x for x in rows if x["k"] == k and x["mode"] == mode and x["delay"] == d)
                if x["wall"]:
                    cellsm.append(f"{fmt_ms(x['wall'], 1)}; {fmt_ms(x['iterations'], 0)} it")
                elif x["skipped"]:
                    cellsm.append(f"not reached (> {cfg['budget_s']} s: {x['skipped']})")
                else:
                    cellsm.append(f"not reached (> {cfg['budget_s']} s or {cfg['max_iter']} it)")
            md.append(f"| {mode} | " + " | ".join(cellsm) + " |")
        def said(c):
            return f"S = {c:g} s" if c is not None else "not within the S measured"
        md.append(f"\nCrossover (smallest S at which average beats gradient): by the medians "
                  f"{said(cross.get(str(k)))}; on every seed (slowest average ahead of fastest gradient) "
                  f"{said(clear.get(str(k)))}\n")
    write(r.out, "crossover.md", "\n".join(md) + "\n")


def unequal(r, cfg, results):
    k, a = cfg["k"], cfg["accuracy"]
    tau = cfg.get("tau") or best_tau(results, k, 50)
    configs = cfg.get("configs") or ["average (no slow rank)", "average", "average --round-seconds",
                                     "async-easgd", "async-easgd (no slow rank)"]
    rows = []
    for name in configs:
        per_seed = []
        for seed in cfg["seeds"]:
            slow = None if "no slow" in name else cfg["slow"]
            mode = name.split()[0]
            rs = None
            if "round-seconds" in name:
                # T = the time tau local steps take on a fast rank, from the run without a slow rank.
                base = r.run(f"uneq_k{k}_average_fast_s{seed}", k, "average", tau, seed, cfg["max_iter"],
                             cfg["budget_s"], target=a, test_iter=cfg["test_iter"], test_interval=max(tau, cfg["test_every"]))
                rs = tau * base["compute_per_iter"]
            tag = name.replace(" (no slow rank)", "_fast").replace(" --round-seconds", "_rs").replace(" ", "_")
            per_seed.append(r.run(f"uneq_k{k}_{tag}_s{seed}", k, mode, tau, seed, cfg["max_iter"], cfg["budget_s"],
                                  target=a, slow=slow, round_seconds=rs, test_iter=cfg["test_iter"],
                                  test_interval=max(tau, cfg["test_every"])))
        walls = [s["target_wall_s"] for s in per_seed if s["reached"]]
        reached = len(walls) == len(per_seed)
        steps = [s["local_steps"] for s in per_seed if s["local_steps"]]
        rows.append(dict(config=name, tau=tau, wall=med_spread(walls) if reached else None,
                         iterations=med_spread([s["target_iteration"] for s in per_seed]) if reached else None,
                         local_steps=steps, round_seconds=rs,
                         runs=[f"uneq_k{k}_{tag}_s{seed}" for seed in cfg["seeds"]]))
    results["unequal"] = dict(config=cfg, tau=tau, rows=rows)
    md = [f"# Unequal workers: K = {k}, rank {cfg['slow'].split(':')[0]} {cfg['slow'].split(':')[1]}x slower "
          f"(`--slow-rank {cfg['slow']}`)\n",
          f"Wall time to test accuracy {a} (seconds from the start of training, tests included), tau = {tau}, "
          f"seeds {cfg['seeds']}, median (min–max). Budget per run: {cfg['max_iter']} iterations or "
          f"{cfg['budget_s']} s. Local steps: per rank, at the end of each seed's run.\n",
          "| configuration | wall time to a (s) | iterations (rank 0) | local steps per rank |",
          "|---|---|---|---|"]
    for x in rows:
        wall = fmt_ms(x["wall"], 1) if x["wall"] else f"not reached (> {cfg['budget_s']} s or {cfg['max_iter']} it)"
        extra = f" (T = {x['round_seconds']:.3f} s)" if x["round_seconds"] else ""
        md.append(f"| {x['config']}{extra} | {wall} | {fmt_ms(x['iterations'], 0)} | "
                  + "; ".join(" ".join(map(str, s)) for s in x["local_steps"]) + " |")
    write(r.out, "unequal.md", "\n".join(md) + "\n")


# ---------------------------------------------------------------------------------------------
def bench_exchange(k, mode, rate, repeats):
    """The median seconds of one `mode` exchange of the experiments' LeNet on the emulated
    cluster that is up (bench-exchange, K nodes x 1 rank)."""
    out = subprocess.run([CLUSTER, "mpirun", "-np", str(k), "-x", "OPENBLAS_NUM_THREADS=1", BIN[0], "bench-exchange",
                          "--model", NET, "--sync", mode, "--repeats", str(repeats), "--link-rate", rate],
                         cwd=REPO, capture_output=True, text=True, timeout=900)
    for line in out.stdout.splitlines():
        cells = line.split()
        if cells and cells[0] == mode and len(cells) >= 6:
            return float(cells[2]) / 1e3, float(cells[5]), cells[6] if len(cells) > 6 else None
    sys.exit(f"experiments: bench-exchange --sync {mode} at {rate} printed no result:\n{out.stdout}\n{out.stderr}")


def cluster_up(k, rate):
    subprocess.run([CLUSTER, "down"], capture_output=True)
    up = subprocess.run([CLUSTER, "up", str(k), "--rate", rate], capture_output=True, text=True)
    if up.returncode != 0:
        sys.exit(f"experiments: emulated-cluster.sh up {k} failed: {up.stderr.strip()}")


def cluster(r, cfg, results):
    """Wall time to the accuracy on K emulated nodes x 1 rank with shaped links, beside the sleep
    model: the same run on one node (no delay) plus n_exchanges x S, S = the exchange time
    bench-exchange measured on that link. `--comm-delay S` changes no weight, so a one-node run
    with it reaches the accuracy at the same iteration after exactly that many sleeps: the sum
    is what that run would measure, without the run."""
    if os.geteuid() != 0:
        sys.exit("experiments: the cluster table needs root (network namespaces; scripts/emulated-cluster.sh)")
    a = cfg["accuracy"]
    rows, links = [], []
    try:
        for k in cfg["ks"]:
            # The one-node baseline of every mode and seed (the sleep model's T_0).
            base = {}
            for mode, tau in cfg["modes"]:
                for seed in cfg["seeds"]:
                    base[(mode, tau, seed)] = r.run(f"clu_k{k}_{mode}_t{tau}_local_s{seed}", k, mode, tau, seed,
                                                   cfg["max_iter"], cfg["budget_s"], target=a, test_iter=cfg["test_iter"],
                                                   test_interval=max(tau, cfg["test_every"]))
            cluster_up(k, cfg["rates"][0])
            for rate in cfg["rates"]:
                subprocess.run([CLUSTER, "rate", rate], check=True, capture_output=True)
                exch = {}
                for mode in sorted({m for m, _ in cfg["modes"]}):
                    secs, busbw, share = bench_exchange(k, mode, rate, 3 if rate.startswith("10mbit") else 5)
                    exch[mode] = secs
                    links.append(dict(k=k, rate=rate, mode=mode, exchange_s=secs, busbw_gbps=busbw, of_link=share))
                    log(f"cluster K={k} {rate}: {mode} exchange {secs * 1e3:.1f} ms ({share} of the link)")
                for mode, tau in cfg["modes"]:
                    per_seed, predicted, skipped = [], [], False
                    for seed in cfg["seeds"]:
                        b = base[(mode, tau, seed)]
                        if not skipped:
                            s = r.run(f"clu_k{k}_{mode}_t{tau}_{rate}_s{seed}", k, mode, tau, seed, cfg["max_iter"],
                                      cfg["budget_s"], target=a, test_iter=cfg["test_iter"],
                                      test_interval=max(tau, cfg["test_every"]), cluster_rate=rate)
                            per_seed.append(s)
                            # The first seed ran out of budget: the cell is "not reached"; the
                            # other seeds would only spend the budget again.
                            skipped = not s["reached"]
                        if b["reached"]:
                            exchanges = b["target_iteration"] // (1 if mode == "gradient" else tau)
                            predicted.append(b["target_wall_s"] + exchanges * exch[mode])
                    walls = [s["target_wall_s"] for s in per_seed if s["reached"]]
                    rows.append(dict(k=k, rate=rate, mode=mode, tau=tau, exchange_s=exch[mode],
                                     wall=med_spread(walls) if len(walls) == len(cfg["seeds"]) else None,
                                     reached=len(walls), ran=len(per_seed), predicted=med_spread(predicted),
                                     local=med_spread([base[(mode, tau, sd)]["target_wall_s"] for sd in cfg["seeds"]
                                                       if base[(mode, tau, sd)]["reached"]]),
                                     iterations=med_spread([s["target_iteration"] for s in per_seed if s["reached"]]),
                                     runs=[f"clu_k{k}_{mode}_t{tau}_{rate}_s{sd}" for sd in cfg["seeds"]]))
    finally:
        subprocess.run([CLUSTER, "down"], capture_output=True)
    results["cluster"] = dict(config=cfg, rows=rows, links=links)
    cluster_md(r, cfg, rows, links)


def cluster_predict(r, cfg, results):
    """Recomputes the cluster table's one-node baselines and predictions from the cached runs
    (after a baseline run was deleted to be measured again), keeping the measured cells and S."""
    cl = results["cluster"]
    a = cfg["accuracy"]
    for x in cl["rows"]:
        mode, tau, k = x["mode"], x["tau"], x["k"]
        base = [r.run(f"clu_k{k}_{mode}_t{tau}_local_s{seed}", k, mode, tau, seed, cfg["max_iter"], cfg["budget_s"],
                      target=a, test_iter=cfg["test_iter"], test_interval=max(tau, cfg["test_every"]))
                for seed in cfg["seeds"]]
        per = 1 if mode == "gradient" else tau
        x["predicted"] = med_spread([b["target_wall_s"] + b["target_iteration"] // per * x["exchange_s"]
                                     for b in base if b["reached"]])
        x["local"] = med_spread([b["target_wall_s"] for b in base if b["reached"]])
    cluster_md(r, cl["config"], cl["rows"], cl["links"])


def cluster_md(r, cfg, rows, links):
    a = cfg["accuracy"]
    md = [f"# The crossover on real links: K emulated nodes x 1 rank, LeNet to test accuracy {a}\n",
          f"Wall time to {a} in seconds (from the start of training, tests included), median (min–max) of seeds "
          f"{cfg['seeds']}; budget {cfg['max_iter']} iterations or {cfg['budget_s']} s per run. Each cell: "
          "**measured** on the emulated cluster's shaped links / *predicted* by the sleep model "
          "(the one-node run plus one measured exchange time S per exchange, as `--comm-delay S` does). "
          "S is `bench-exchange`'s median on that link.\n"]
    for k in cfg["ks"]:
        md += [f"\n## K = {k}\n", "| mode | " + " | ".join(cfg["rates"]) + " | one node, no delay |",
               "|---|" + "---|" * (len(cfg["rates"]) + 1)]
        for mode, tau in cfg["modes"]:
            cells = []
            for rate in cfg["rates"]:
                x = next(x for x in rows if x["k"] == k and x["rate"] == rate and x["mode"] == mode and x["tau"] == tau)
                meas = fmt_ms(x["wall"], 1) if x["wall"] else (
                    f"> {cfg['budget_s']}" + (f" ({x['reached']} of {x['ran']} seeds reached)" if x["reached"] else
                                              (" (first seed; the others not run)" if x["ran"] < len(cfg["seeds"]) else "")))
                cells.append(f"**{meas}** / *{fmt_ms(x['predicted'], 1)}*")
            loc = next(x["local"] for x in rows if x["k"] == k and x["mode"] == mode and x["tau"] == tau)
            name = "gradient (overlapped)" if mode == "gradient" else f"{mode}, tau {tau}"
            md.append(f"| {name} | " + " | ".join(cells) + f" | {fmt_ms(loc, 1)} |")
        md += ["", "Exchange time S (ms, bench-exchange median) and bus bandwidth share of the link:", "",
               "| mode | " + " | ".join(cfg["rates"]) + " |", "|---|" + "---|" * len(cfg["rates"])]
        for mode in sorted({m for m, _ in cfg["modes"]}):
            cells = [next(f"{l['exchange_s'] * 1e3:.1f} ({l['of_link']})" for l in links
                          if l["k"] == k and l["rate"] == rate and l["mode"] == mode) for rate in cfg["rates"]]
            md.append(f"| {mode} | " + " | ".join(cells) + " |")
    write(r.out, "cluster.md", "\n".join(md) + "\n")


def write(out, name, text):
    path = os.path.join(out, name)
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", default=os.environ.get("EXPERIMENTS_QUICK") == "1",
                   help="a 2x2 corner of each table (CI); also EXPERIMENTS_QUICK=1")
    p.add_argument("--out", help="output directory (default docs/experiments, or .build/experiments-quick)")
    p.add_argument("--only", default="speedup,crossover,unequal")
    args = p.parse_args()
    cfg = QUICK if args.quick else FULL
    out = os.path.abspath(args.out or os.path.join(REPO, ".build/experiments-quick" if args.quick else "docs/experiments"))
    os.makedirs(out, exist_ok=True)
    binary = os.path.abspath(os.environ.get("SPARKNET_BIN", os.path.join(REPO, ".build/release/sparknet-mpi")))
    if not os.access(binary, os.X_OK):
        sys.exit(f"experiments: {binary} is not an executable (run `make release`)")
    if not os.path.exists(os.path.join(REPO, "data/fashion-mnist/train.txt")):
        sys.exit("experiments: data/fashion-mnist/ is missing (run `make data`)")
    BIN[0] = binary
    r = Runner(out, binary)
    results_path = os.path.join(out, "results.json")
    results = json.load(open(results_path)) if os.path.exists(results_path) else {}
    started = time.monotonic()
    for table in args.only.split(","):
        log(f"=== {table}")
        {"speedup": speedup, "crossover": crossover, "unequal": unequal, "cluster": cluster,
         "cluster-predict": cluster_predict}[table](r, cfg[table.split("-")[0]], results)
        results["quick"] = args.quick
        write(out, "results.json", json.dumps(results, indent=1) + "\n")
    log(f"experiments: tables in {out} after {time.monotonic() - started:.0f} s")
    plot = [sys.executable, os.path.join(REPO, "scripts", "plot.py")]
    subprocess.run(plot + ["--experiments", out], check=True)


if __name__ == "__main__":
    main()
