sparknet-mpi train --solver docs/experiments/runs/solver_s1702_m800_t100_i100.prototxt --sync average --tau 50 --metrics docs/experiments/runs/speedup_k1_s1702.jsonl --target-accuracy 0.85
