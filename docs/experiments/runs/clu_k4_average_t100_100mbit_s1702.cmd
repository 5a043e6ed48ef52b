scripts/emulated-cluster.sh up 4 --rate 100mbit
scripts/emulated-cluster.sh mpirun -np 4 -x OPENBLAS_NUM_THREADS=1 sparknet-mpi train --solver docs/experiments/runs/solver_s1702_m1500_t100_i100.prototxt --sync average --tau 100 --metrics docs/experiments/runs/clu_k4_average_t100_100mbit_s1702.jsonl --target-accuracy 0.85
