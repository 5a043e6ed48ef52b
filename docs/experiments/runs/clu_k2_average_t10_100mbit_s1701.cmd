scripts/emulated-cluster.sh up 2 --rate 100mbit
scripts/emulated-cluster.sh mpirun -np 2 -x OPENBLAS_NUM_THREADS=1 sparknet-mpi train --solver docs/experiments/runs/solver_s1701_m1500_t100_i100.prototxt --sync average --tau 10 --metrics docs/experiments/runs/clu_k2_average_t10_100mbit_s1701.jsonl --target-accuracy 0.85
