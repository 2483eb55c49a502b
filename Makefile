# Builds the C++ side of the torch bindings (build/libctorch.so) against a
# libtorch, then the Go binaries and tests that link it.
#
#   make                 library + bin/trainer against Debian's libtorch-dev
#   make LIBTORCH=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))')
#                        ... against a PyTorch install (CPU or CUDA)
#   make test            everything CI runs (vet with cppcheck, all tests, race run of the
#                        packages with goroutines)
#   make test-short      quick loop: unit tests only (go test -short), no
#                        end-to-end runs of the binary

LIBTORCH ?= /usr
BUILD    ?= build
CXX      ?= g++
GO       ?= go

# Debian puts the headers under /usr/include and the libraries on the default
# search path; a PyTorch install has include/ and lib/ beside each other.
ifeq ($(LIBTORCH),/usr)
TORCH_INC := -I/usr/include -I/usr/include/torch/csrc/api/include
TORCH_LIB :=
else
TORCH_INC := -isystem $(LIBTORCH)/include -isystem $(LIBTORCH)/include/torch/csrc/api/include
TORCH_LIB := -L$(LIBTORCH)/lib -Wl,-rpath,$(LIBTORCH)/lib
endif

# A CUDA build of libtorch registers its kernels from libtorch_cuda, which the
# linker would otherwise drop because no symbol of it is referenced.
ifneq ($(wildcard $(LIBTORCH)/lib/libtorch_cuda.so),)
TORCH_LIB += -Wl,--no-as-needed -ltorch_cuda -Wl,--as-needed
endif

# PyTorch wheels say which C++ ABI they use; Debian's build uses the new one.
CXX11_ABI ?= $(shell test -f $(LIBTORCH)/__init__.py && python3 -c 'import torch;print(int(torch._C._GLIBCXX_USE_CXX11_ABI))' 2>/dev/null || echo 1)

# libtorch 1.13 and 2.x build as C++17; later PyTorch headers may want c++20.
CXXSTD   ?= c++17
CXXFLAGS ?= -O2
CXXFLAGS += -std=$(CXXSTD) -fPIC -Wall -Wno-unused-parameter -D_GLIBCXX_USE_CXX11_ABI=$(CXX11_ABI) $(TORCH_INC)
LDLIBS   := $(TORCH_LIB) -ltorch -ltorch_cpu -lc10

# c10d's Gloo backend (torch/distributed). ProcessGroupGloo.hpp is empty
# unless USE_C10D_GLOO is defined, and it includes Gloo's headers: Debian
# ships them in libgloo-dev (which libtorch-dev does not pull in), PyTorch
# installs may lack them (then point GLOO_INC at a copy of the headers of
# the Gloo that libtorch was built with: GLOO_INC/gloo/algorithm.h). Without
# them the library is built anyway and torch/distributed says it has no Gloo.
GLOO_INC ?=
ifneq ($(GLOO_INC),)
HAVE_GLOO := $(wildcard $(GLOO_INC)/gloo/algorithm.h)
CXXFLAGS_DIST += -isystem $(GLOO_INC)
else
HAVE_GLOO := $(wildcard $(LIBTORCH)/include/gloo/algorithm.h)
endif
ifneq ($(HAVE_GLOO),)
CXXFLAGS_DIST += -DUSE_C10D_GLOO -DCT_HAVE_GLOO
else
$(warning torch/distributed: no Gloo headers under $(or $(GLOO_INC),$(LIBTORCH)/include) (install libgloo-dev, or set GLOO_INC); building without ProcessGroupGloo)
endif

# c10d's NCCL backend, only for a CUDA libtorch with NCCL's header
# (PyTorch's wheels take it from the nvidia-nccl package beside torch);
# `make HAVE_NCCL=` builds without it.
NCCL_INC ?= $(LIBTORCH)/../nvidia/nccl/include
CUDA_HOME ?= /usr/local/cuda
HAVE_NCCL := $(and $(wildcard $(LIBTORCH)/lib/libtorch_cuda.so),$(wildcard $(NCCL_INC)/nccl.h))
ifneq ($(HAVE_NCCL),)
CXXFLAGS_DIST += -DUSE_C10D_NCCL -DCT_HAVE_NCCL -isystem $(NCCL_INC) -isystem $(CUDA_HOME)/include
endif

CSRC := $(wildcard torch/csrc/*.cpp)
ifeq ($(HAVE_NCCL),)
CSRC := $(filter-out torch/csrc/distributed_nccl.cpp,$(CSRC))
endif
OBJS := $(patsubst torch/csrc/%.cpp,$(BUILD)/obj/%.o,$(CSRC))

# The compiler, flags and libraries of the last build: rewritten only when
# they change (another LIBTORCH, CXX11_ABI or CXXSTD), which then rebuilds
# the library instead of keeping one built against another libtorch.
FLAGS_STAMP := $(BUILD)/flags
BUILD_FLAGS := $(CXX) $(CXXFLAGS) $(CXXFLAGS_DIST) $(LDLIBS)

.PHONY: all lib trainer test test-short vet clean FORCE

all: lib trainer

lib: $(BUILD)/libctorch.so

$(FLAGS_STAMP): FORCE
	@mkdir -p $(BUILD)
	@echo '$(BUILD_FLAGS)' | cmp -s - $@ || echo '$(BUILD_FLAGS)' > $@

$(BUILD)/obj/%.o: torch/csrc/%.cpp torch/csrc/ctorch.h torch/csrc/internal.h $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/obj/distributed.o $(BUILD)/obj/distributed_nccl.o: torch/csrc/ctorch_dist.h torch/csrc/dist_internal.h
$(BUILD)/obj/distributed.o $(BUILD)/obj/distributed_nccl.o: CXXFLAGS += $(CXXFLAGS_DIST)

$(BUILD)/libctorch.so: $(OBJS) $(FLAGS_STAMP)
	$(CXX) -shared -o $@ $(OBJS) $(LDLIBS)

trainer: lib
	$(GO) build -o bin/trainer ./cmd/trainer

# cppcheck (Debian's; scripts/setup.sh --test-deps) over torch/csrc: any
# warning, style, performance or portability finding fails vet. libtorch's
# headers are not read (too slow, and not ours to fix); a false positive is
# suppressed at its line with a cppcheck-suppress comment saying why.
CPPCHECK ?= cppcheck
CPPCHECK_FLAGS := --quiet --error-exitcode=1 --std=c++17 --language=c++ --inline-suppr \
	--enable=warning,style,performance,portability --suppress=missingIncludeSystem

# gofmt over the tracked Go files; no file list (git missing, no .git) fails.
# Then go vet, go.mod's tidiness and cppcheck over the C++.
vet: lib
	@files="$$(git ls-files '*.go')" && test -n "$$files" || { echo "vet: no Go files from git ls-files" >&2; exit 1; }; \
	bad="$$(gofmt -l $$files)"; test -z "$$bad" || { echo "not gofmt'ed:" $$bad >&2; exit 1; }
	$(GO) vet ./...
	$(GO) mod tidy -diff
	$(CPPCHECK) $(CPPCHECK_FLAGS) torch/csrc

# Packages whose code runs goroutines (the batch loader, the trainer's loop
# and signal handling, the sweep's pool): tested once more under the race detector.
RACE_PKGS ?= ./dataset/ ./trainer/ ./sweep/

test: lib vet
	$(GO) test -count=1 -timeout 40m ./...
	$(GO) test -race -count=1 -timeout 20m $(RACE_PKGS)

test-short: lib
	$(GO) test -short -count=1 ./...

clean:
	rm -rf $(BUILD) bin
