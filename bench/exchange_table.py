#!/usr/bin/python3
"""The exchange table of docs/communication.md: `sparknet-mpi bench-exchange` on the emulated
cluster (K nodes x 1 rank, links shaped to each rate), every sync mode, beside the library's
own blocking collectives at the same sizes (bench/coll/coll_bench.c: MPI_Allreduce, and
MPI_Reduce + MPI_Bcast for master). Needs root (scripts/emulated-cluster.sh).

  bench/exchange_table.py [--ks 2,4] [--rates 100mbit,1gbit,10gbit] [--nets cifar10_quick,alexnet,lenet]
                          [--raw DIR]

Prints a Markdown table: each cell the median exchange time and the bus bandwidth as a share
of the link (nccl-tests' definition: allreduce 2(K-1)/K x bytes / time, master 2 x bytes / time).
AlexNet (244 MB) runs average and master only (gradient and easgd make the same allreduce), with
3 repeats, and at rates below 1 Gbit/s one repeat of average.
"""
import argparse
import os
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CLUSTER = os.path.join(REPO, "scripts", "emulated-cluster.sh")
FLOATS = {"cifar10_quick": 145578, "lenet": 431080, "alexnet": 60965224}


def run(cmd, raw, name):
    start = time.strftime("%H:%M:%S")
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=3600)
    with open(os.path.join(raw, name + ".txt"), "w") as f:
        f.write(f"# {start} load {os.getloadavg()[0]:.2f}\n# cmd: {' '.join(cmd)}\n{out.stdout}{out.stderr}")
    if out.returncode != 0:
        sys.exit(f"exchange_table: {' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ks", default="2,4")
    p.add_argument("--rates", default="100mbit,1gbit,10gbit")
    p.add_argument("--nets", default="cifar10_quick,alexnet,lenet")
    p.add_argument("--raw", default="/tmp/exchange-table")
    a = p.parse_args()
    os.makedirs(a.raw, exist_ok=True)
    binary = os.environ.get("SPARKNET_BIN", os.path.join(REPO, ".build/release/sparknet-mpi"))
    env_mpi = ["-x", "OPENBLAS_NUM_THREADS=1"]
    os.environ.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    table = ["| net | K | link | average | master | gradient | easgd | library MPI_Allreduce | library MPI_Reduce + MPI_Bcast |",
             "|---|---|---|---|---|---|---|---|---|"]
    try:
        for k in map(int, a.ks.split(",")):
            subprocess.run([CLUSTER, "down"], capture_output=True)
            subprocess.run([CLUSTER, "up", str(k), "--rate", a.rates.split(",")[0]], check=True, capture_output=True)
            for rate in a.rates.split(","):
                subprocess.run([CLUSTER, "rate", rate], check=True, capture_output=True)
                slow = rate.endswith("kbit") or (rate.endswith("mbit") and float(rate[:-4]) < 1000)
                for net in a.nets.split(","):
                    model = os.path.join(REPO, "bench", "nets", f"{net}_train.prototxt")
                    ours = {}
                    big = net == "alexnet"
                    modes = (["average"] if slow else ["average", "master"]) if big else ["all"]
                    for mode in modes:
                        reps = "1" if big and slow else "3" if big else "10"
                        text = run([CLUSTER, "mpirun", "-np", str(k)] + env_mpi + [binary, "bench-exchange", "--model", model,
                                   "--sync", mode, "--repeats", reps, "--link-rate", rate], a.raw, f"be_k{k}_{rate}_{net}_{mode}")
                        for line in text.splitlines():
                            c = line.split()
                            if len(c) == 7 and c[0] in ("average", "master", "gradient", "easgd"):
                                ours[c[0]] = (float(c[2]), c[6])
                    lib = {}
                    if not (big and slow):
                        variants = "allreduce" if big else "allreduce,reduce-bcast"
                        text = run([os.path.join(REPO, "bench", "coll", "run.sh"), "-np", str(k), "--", str(FLOATS[net]),
                                    variants, "-r", "3" if big else "10", "-l", rate], a.raw, f"lib_k{k}_{rate}_{net}")
                        for line in text.splitlines():
                            c = line.split()
                            if len(c) == 8 and c[0] in ("allreduce", "reduce-bcast"):
                                lib[c[0]] = (float(c[3]), c[7])

                    def cell(x):
                        return "—" if x is None else (f"{x[0] / 1e3:.2f} s / {x[1]}" if x[0] >= 1000 else f"{x[0]:.2f} ms / {x[1]}")
                    table.append(f"| {net} | {k} | {rate} | " + " | ".join(cell(ours.get(m)) for m in
                                 ("average", "master", "gradient", "easgd")) + " | "
                                 + " | ".join(cell(lib.get(v)) for v in ("allreduce", "reduce-bcast")) + " |")
                    print(table[-1], flush=True)
    finally:
        subprocess.run([CLUSTER, "down"], capture_output=True)
    print("\n".join(table))


if __name__ == "__main__":
    main()
