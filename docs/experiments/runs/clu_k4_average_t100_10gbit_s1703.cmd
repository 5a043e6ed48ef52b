scripts/emulated-cluster.sh up 4 --rate 10gbit
scripts/emulated-cluster.sh mpirun -np 4 -x OPENBLAS_NUM_THREADS=1 sparknet-mpi train --solver docs/experiments/runs/solver_s1703_m1500_t100_i100.prototxt --sync average --tau 100 --metrics docs/experiments/runs/clu_k4_average_t100_10gbit_s1703.jsonl --target-accuracy 0.85
