scripts/emulated-cluster.sh up 2 --rate 10gbit
scripts/emulated-cluster.sh mpirun -np 2 -x OPENBLAS_NUM_THREADS=1 sparknet-mpi train --solver docs/experiments/runs/solver_s1701_m1500_t100_i100.prototxt --sync easgd --tau 10 --metrics docs/experiments/runs/clu_k2_easgd_t10_10gbit_s1701.jsonl --target-accuracy 0.85
