#!/usr/bin/env bash
# Regenerates Sources/CaffeProto/caffe.pb.swift from proto/caffe.proto.
#
# Needs Debian's protoc (package protobuf-compiler; installed with apt-get when
# missing) and protoc-gen-swift from swift-protobuf 1.39.0, which is built
# from a fresh clone unless PROTOC_GEN_SWIFT names an existing plugin binary:
#
#   scripts/generate-proto.sh
#   PROTOC_GEN_SWIFT=/path/to/protoc-gen-swift scripts/generate-proto.sh
set -euo pipefail

SWIFT_PROTOBUF_VERSION=1.39.0

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v protoc >/dev/null 2>&1; then
  echo "protoc not found; installing protobuf-compiler" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y protobuf-compiler
fi

workdir=""
cleanup() { if [ -n "$workdir" ]; then rm -rf "$workdir"; fi; }
trap cleanup EXIT

plugin="${PROTOC_GEN_SWIFT:-}"
if [ -z "$plugin" ]; then
  workdir="$(mktemp -d)"
  echo "building protoc-gen-swift ${SWIFT_PROTOBUF_VERSION} in $workdir" >&2
  git clone --quiet --depth 1 --branch "$SWIFT_PROTOBUF_VERSION" \
    https://github.com/apple/swift-protobuf "$workdir/swift-protobuf"
  (cd "$workdir/swift-protobuf" && swift build --product protoc-gen-swift)
  plugin="$workdir/swift-protobuf/.build/debug/protoc-gen-swift"
fi
if [ ! -x "$plugin" ]; then
  echo "protoc-gen-swift not executable: $plugin" >&2
  exit 1
fi

mkdir -p Sources/CaffeProto
protoc --plugin=protoc-gen-swift="$plugin" \
  --swift_out=Sources/CaffeProto \
  --swift_opt=Visibility=Public \
  -I proto proto/caffe.proto

echo "wrote Sources/CaffeProto/caffe.pb.swift ($(wc -l < Sources/CaffeProto/caffe.pb.swift) lines)" >&2
