scripts/emulated-cluster.sh up 2 --rate 1gbit
scripts/emulated-cluster.sh mpirun -np 2 -x OPENBLAS_NUM_THREADS=1 sparknet-mpi train --solver docs/experiments/runs/solver_s1702_m1500_t100_i100.prototxt --sync average --tau 100 --metrics docs/experiments/runs/clu_k2_average_t100_1gbit_s1702.jsonl --target-accuracy 0.85
