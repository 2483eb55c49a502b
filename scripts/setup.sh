#!/usr/bin/env bash
# Installs the build dependencies from Debian (libtorch 1.13 for CPU, the Gloo
# headers torch/distributed needs (libtorch-dev does not pull them in), a C++
# compiler, make) and builds build/libctorch.so and bin/trainer.
#   scripts/setup.sh               build dependencies, then `make`
#   scripts/setup.sh --test-deps   also PyTorch, torchvision, numpy, PIL and
#                                  OpenCV for Python, which the tests compare against,
#                                  and protoc with Python's protobuf, which read the
#                                  TensorBoard event files back, and onnx, which checks
#                                  the ONNX export, cppcheck for make vet,
#                                  and Slurm with munge for the sweep test's cluster
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(g++ make libtorch-dev libgloo-dev)
if [[ "${1:-}" == "--test-deps" ]]; then
  pkgs+=(python3-torch python3-torchvision python3-numpy python3-pil python3-opencv
    protobuf-compiler python3-protobuf cppcheck slurm-wlm munge)
fi
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
make
