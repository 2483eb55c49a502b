# syntax=docker/dockerfile:1
#
# GPU training image: the Go trainer over the libtorch that ships inside an
# official PyTorch CUDA image (its Python package's torch/include and
# torch/lib), built with the repository's Makefile.
#
#   docker build -t gotrain .
#   docker run --rm --gpus all gotrain trainer -epochs 20 -lr 0.05
#
# The image works in /workspace: without -data the trainer downloads CIFAR-10
# into /workspace/data, and writes runs into /workspace/runs/latest. Keep both
# by mounting them, and train from a local archive when offline:
#
#   docker run --rm --gpus all -v "$PWD/data:/workspace/data" -v "$PWD/runs:/workspace/runs" \
#       -v /path/to/cifar10-jpeg.tar.gz:/workspace/cifar10-jpeg.tar.gz:ro \
#       gotrain trainer -epochs 20 -lr 0.05 -data cifar10-jpeg.tar.gz -out runs/gpu
#
# Other versions: --build-arg PYTORCH_IMAGE=pytorch/pytorch:<version>-cuda<X.Y>-cudnn9-devel
# (a devel image: the build needs g++; the CUDA version must suit the host's
# driver). For PyTorch releases whose headers demand C++20, add CXXSTD=c++20
# to the two make lines below.
#
# Both bases are build arguments: scripts/docker_check.sh builds this file
# on local stand-ins (Debian bookworm with python3-torch, the host's Go) where
# no image can be pulled, and trains one short epoch in the container.

ARG PYTORCH_IMAGE=pytorch/pytorch:2.7.1-cuda12.8-cudnn9-devel
ARG GO_IMAGE=golang:1.26

FROM ${GO_IMAGE} AS go

FROM ${PYTORCH_IMAGE}

# g++ and make for the C++ library and cgo, ca-certificates for go mod
# download's HTTPS (the CUDA devel base usually has them; installing makes
# sure: a minimal Debian base has no CA certificates).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends g++ make ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# The Go toolchain, from the official Go image.
COPY --from=go /usr/local/go /usr/local/go
ENV PATH=/usr/local/go/bin:${PATH} \
    GOPATH=/root/go \
    CGO_ENABLED=1 \
    GOFLAGS=-buildvcs=false

WORKDIR /opt/gotrain

# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download

COPY . .

# build/libctorch.so against the image's PyTorch, with the C++ ABI that
# PyTorch reports (the Makefile asks python3 the same; given here explicitly),
# then bin/trainer. /opt/libtorch names the torch package folder for
# LD_LIBRARY_PATH, whose value cannot be computed in an ENV line.
RUN TORCH_DIR="$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')" \
 && ABI="$(python3 -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')" \
 && echo "building against torch $(python3 -c 'import torch; print(torch.__version__)') in $TORCH_DIR, CXX11_ABI=$ABI" \
 && make lib LIBTORCH="$TORCH_DIR" CXX11_ABI="$ABI" \
 && make trainer LIBTORCH="$TORCH_DIR" CXX11_ABI="$ABI" \
 && ln -s "$TORCH_DIR" /opt/libtorch \
 && go clean -cache

ENV PATH=/opt/gotrain/bin:${PATH} \
    LD_LIBRARY_PATH=/opt/gotrain/build:/opt/libtorch/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

# The binary must start (all libraries found) even without a GPU.
RUN trainer --help >/dev/null

WORKDIR /workspace
VOLUME ["/workspace/data", "/workspace/runs"]
CMD ["trainer", "--help"]
