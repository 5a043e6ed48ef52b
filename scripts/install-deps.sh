#!/usr/bin/env bash
# Installs the Debian packages sparknet-mpi needs to build, test and run the demo.
# Does nothing when every package is already installed. Retries around a busy dpkg lock and
# around archives that a concurrent apt run deleted (docker-clean), which both happen on shared
# build machines. Extra package names may be given as arguments.
#
#   scripts/install-deps.sh
set -euo pipefail

PACKAGES=(
  libopenmpi-dev openmpi-bin          # MPI (Open MPI 4.1): the CMPI target, mpirun
  libopenblas-dev                     # BLAS: the CBLAS target
  libhdf5-openmpi-dev                 # parallel HDF5 (MPI-IO): the CHDF5 target
  pkg-config zlib1g-dev               # module maps find the libraries through pkg-config
  dataset-fashion-mnist               # /usr/share/datasets/fashion-mnist (make demo)
  protobuf-compiler python3-protobuf  # scripts/generate-proto.sh; tests decode .caffemodel in Python
  python3-h5py python3-numpy          # end-to-end tests write HDF5 fixtures
  time                                # /usr/bin/time -v: peak memory in Tests/e2e/streaming.sh
  libjpeg62-turbo-dev                 # JPEG decoding (libjpeg-turbo): the CJPEG target
  libpng-dev                          # PNG decoding: the CPNG target
  liblmdb-dev                         # Caffe's LMDB databases: the CLMDB target
  python3-pil                         # end-to-end tests make JPEG/PNG images
  python3-lmdb                        # end-to-end tests read LMDBs back independently
)
PACKAGES+=("$@")

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"

if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
export DEBIAN_FRONTEND=noninteractive

# Runs "$@" up to 10 times, 10 s apart (dpkg lock held by another apt; archives vanished).
retry() {
  local i
  for i in $(seq 1 10); do
    if "$@"; then return 0; fi
    echo "install-deps: '$*' failed (attempt $i/10); retrying in 10 s" >&2
    sleep 10
  done
  return 1
}

retry "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=120 update -q
retry "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=120 install -y -q "${missing[@]}"

for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || { echo "install-deps: $p is still missing" >&2; exit 1; }
done
echo "install-deps: done"
