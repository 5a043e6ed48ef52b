# sparknet-mpi: make demo | make test | make build | make release | make clean
# Every target installs its Debian packages first (scripts/install-deps.sh; a no-op when present).

SHELL        := /bin/bash
SWIFT        ?= swift
DEBUG_BIN    := .build/debug/sparknet-mpi
RELEASE_BIN  := .build/release/sparknet-mpi
FASHION      ?= /usr/share/datasets/fashion-mnist
DATA         := data/fashion-mnist
SNAPSHOTS    := snapshots/fashion-mnist

# mpirun as root in containers, and no ssh/rsh for single-node launches.
export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1
export OMPI_MCA_plm_rsh_agent := false

.PHONY: all deps build release test unit-test e2e slurm-test cluster-test fuzz fuzz-build soak demo resnet-demo images-demo data bench bench-input experiments experiments-quick experiments-cluster experiments-cluster-quick scaling-check scaling-projections clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product sparknet-mpi

# Unit tests (Swift Testing / XCTest), then the end-to-end tests of the built binary.
test: deps
	$(SWIFT) build --build-tests
	# Serial: HDF5 is not thread-safe and MPI runs at SERIALIZED level, so suites must not overlap.
	$(SWIFT) test --no-parallel
	$(MAKE) --no-print-directory e2e
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=15
	$(MAKE) --no-print-directory experiments-quick
	$(MAKE) --no-print-directory slurm-test
	$(MAKE) --no-print-directory cluster-test
	$(MAKE) --no-print-directory experiments-cluster-quick

# SPARKNET_BIN picks the binary (default: the debug build that `swift build --build-tests` made).
e2e:
	SPARKNET_BIN=$${SPARKNET_BIN:-$(abspath $(DEBUG_BIN))} Tests/e2e/run-all.sh

# slurm/train.sbatch under a throwaway single-node Slurm (installs slurmctld/slurmd/munge).
slurm-test:
	Tests/slurm/install.sh
	SPARKNET_BIN=$${SPARKNET_BIN:-$(abspath $(DEBUG_BIN))} Tests/slurm/test.sh

# The emulated multi-node cluster (scripts/emulated-cluster.sh): every mode across 2 nodes, bit
# for bit against one node; faults on the links; Slurm across the nodes (docs/cluster.md).
# Needs root for network namespaces (skipped with one line otherwise). LeNet: the release build.
cluster-test: deps release data
	@scripts/install-deps.sh iproute2 util-linux
	Tests/slurm/install.sh
	SPARKNET_BIN=$${SPARKNET_RELEASE_BIN:-$(abspath $(RELEASE_BIN))} Tests/cluster/test.sh

# libFuzzer over the prototxt, .caffemodel, .solverstate and HDF5 readers (Tests/fuzz), each for
# FUZZ_SECONDS; its own build directory, instrumented (--sanitize=fuzzer), with libFuzzer's main.
FUZZ_SECONDS ?= 60
fuzz-build: deps
	$(SWIFT) build --scratch-path .build/fuzz --product sparknet-fuzz --sanitize=fuzzer -Xswiftc -DFUZZING

fuzz: fuzz-build
	FUZZ_BIN=$(abspath .build/fuzz/debug/sparknet-fuzz) Tests/fuzz/run.sh $(FUZZ_SECONDS)

# 20,000 LeNet iterations on 2 ranks, snapshots every 1,000, --keep-snapshots 3: per-rank peak
# RSS and the snapshot directory sampled every second must stay flat (docs/reliability.md).
soak: deps release data
	SPARKNET_BIN=$(abspath $(RELEASE_BIN)) Tests/soak/soak.sh

# Fashion-MNIST in Caffe's HDF5Data layout, plus the list files the LeNet prototxt names.
data: $(DATA)/train.txt $(DATA)/test.txt

$(DATA)/train.h5: | $(RELEASE_BIN)
	@mkdir -p $(DATA)
	$(RELEASE_BIN) convert-idx --images $(FASHION)/train-images-idx3-ubyte.gz \
	    --labels $(FASHION)/train-labels-idx1-ubyte.gz --output $@

$(DATA)/test.h5: | $(RELEASE_BIN)
	@mkdir -p $(DATA)
	$(RELEASE_BIN) convert-idx --images $(FASHION)/t10k-images-idx3-ubyte.gz \
	    --labels $(FASHION)/t10k-labels-idx1-ubyte.gz --output $@

$(DATA)/%.txt: $(DATA)/%.h5
	echo "$<" > $@

$(RELEASE_BIN):
	$(SWIFT) build -c release --product sparknet-mpi

# Trains Caffe's LeNet on Fashion-MNIST on one rank; prints the final test accuracy and the
# path of the .caffemodel. The log is kept beside the snapshots.
demo: deps release
	@$(MAKE) --no-print-directory data
	@mkdir -p $(SNAPSHOTS)
	set -o pipefail; $(RELEASE_BIN) train --solver examples/fashion-mnist/lenet_solver.prototxt \
	    2>&1 | tee $(SNAPSHOTS)/train.log
	@echo
	@grep -E "Final test accuracy" $(SNAPSHOTS)/train.log | tail -1 | sed 's/.*\] //'
	@grep -E "Wrote .*\.caffemodel" $(SNAPSHOTS)/train.log | tail -1 | sed 's/.*\] //'

# The residual net of examples/fashion-mnist-resnet on two ranks averaging every 10 steps; prints
# the final test accuracy (the whole test set) and the wall time.
RESNET_SNAPSHOTS := snapshots/fashion-mnist-resnet
resnet-demo: deps release
	@$(MAKE) --no-print-directory data
	@mkdir -p $(RESNET_SNAPSHOTS)
	set -o pipefail; start=$$(date +%s); \
	mpirun -np 2 -x OPENBLAS_NUM_THREADS=1 $(RELEASE_BIN) train \
	    --solver examples/fashion-mnist-resnet/resnet_solver.prototxt --sync average --tau 10 \
	    2>&1 | tee $(RESNET_SNAPSHOTS)/train.log && \
	echo && echo "Wall time: $$(( $$(date +%s) - start )) s"
	@grep -E "Final test accuracy" $(RESNET_SNAPSHOTS)/train.log | tail -1 | sed 's/.*\] //'
	@grep -E "Wrote .*\.caffemodel" $(RESNET_SNAPSHOTS)/train.log | tail -1 | sed 's/.*\] //'

# Your own images end to end (examples/images/run.sh): PNG/JPEG files from Fashion-MNIST,
# convert-imageset and compute-image-mean on 2 ranks, LeNet with crop + mirror + mean on 2 ranks,
# beside the IDX path's accuracy.
images-demo: deps release
	examples/images/run.sh

# The input pipeline alone (images/s decoded + transformed) beside AlexNet's step (bench/input.sh).
bench-input: deps release
	bench/input.sh

# Benchmarks live in bench/ (see bench/README.md when present).
bench:
	@if [ -x bench/run.sh ]; then bench/run.sh; else echo "bench: not yet written (bench/run.sh)"; fi

# SparkNet's experiments (bench/experiments/run.py): speedup, crossover and unequal-worker tables
# and PNGs in docs/experiments/ (about an hour on 2 cores). EXPERIMENTS_QUICK=1 runs the quick mode.
experiments: deps release
	@scripts/install-deps.sh python3-matplotlib
	@$(MAKE) --no-print-directory data
	bench/experiments/run.py

# The crossover on real links (root: the emulated cluster of scripts/emulated-cluster.sh), into
# docs/experiments/cluster.md and cluster.png; about an hour and a half on 2 cores.
experiments-cluster: deps release
	@scripts/install-deps.sh python3-matplotlib iproute2 util-linux
	@$(MAKE) --no-print-directory data
	bench/experiments/run.py --only cluster

# Its bounded corner (2 nodes, 2 link rates, 2 modes, one seed; a few minutes), then a check;
# skipped with one line where network namespaces cannot be made.
experiments-cluster-quick: deps release
	@scripts/install-deps.sh python3-matplotlib iproute2 util-linux
	@$(MAKE) --no-print-directory data
	@if [ "$$(id -u)" -ne 0 ] || ! ip netns add sn-probe-$$$$ 2>/dev/null; then \
	  echo "experiments-cluster-quick: skipped: network namespaces cannot be made here"; \
	else \
	  ip netns del sn-probe-$$$$; \
	  rm -rf .build/experiments-cluster-quick && \
	  bench/experiments/run.py --quick --only cluster --out .build/experiments-cluster-quick && \
	  bench/experiments/check.py --cluster .build/experiments-cluster-quick; \
	fi

# The cost model (issue 18, docs/scaling.md): plan's predictions against training on the emulated
# cluster (root), --tau auto at 100 Mbit/s and 10 Gbit/s beside fixed taus (about 15 minutes),
# and the projections to 1,024 nodes (a few minutes, no root).
scaling-check: deps release
	@scripts/install-deps.sh python3-matplotlib iproute2 util-linux
	@$(MAKE) --no-print-directory data
	bench/scaling_check.py

scaling-projections: deps release
	@scripts/install-deps.sh python3-matplotlib
	bench/scaling_projections.py

# A 2x2 corner of each table from scratch (a few minutes), then a check of its files and numbers.
experiments-quick: deps release
	@scripts/install-deps.sh python3-matplotlib
	@$(MAKE) --no-print-directory data
	rm -rf .build/experiments-quick
	bench/experiments/run.py --quick --out .build/experiments-quick
	bench/experiments/check.py .build/experiments-quick

clean:
	rm -rf .build data snapshots
