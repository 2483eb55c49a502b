#!/usr/bin/env bash
# gpu_check.sh: the one GPU check of the Go trainer, for a CUDA machine that
# has python3 with a CUDA PyTorch 2.x (torch/include and torch/lib in its
# site-packages), g++ and make, but no Go toolchain.
#
# It takes a bin/trainer built elsewhere (make trainer; the binary needs only
# build/libctorch.so, found through LD_LIBRARY_PATH) and the data set archive
# copied into an ignored folder (.device/cifar10-jpeg.tar.gz), then:
#   1. records the machine, nvidia-smi and the torch version;
#   2. builds build/libctorch.so against that PyTorch:
#        make lib LIBTORCH=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))')
#   3. trains on the GPU:
#        LD_LIBRARY_PATH=$PWD/build:$LIBTORCH/lib bin/trainer -epochs 20 -lr 0.05 -device cuda \
#            -data .device/cifar10-jpeg.tar.gz -out runs/gpu-run
#      sampling GPU utilization and memory with nvidia-smi meanwhile;
#   4. checks the run's files (checkpoint, weights, TorchScript, metrics, plots),
#      one metrics record per epoch, and that python3's torch loads the
#      exported TorchScript and runs it;
#   5. writes into $OUT (at most 8 files come back from the device tool):
#        gpu_check.log  everything below, in order      build.log     the make output
#        train.log      the trainer's stdout and stderr nvidia-smi.txt before the run, then samples
#        metrics.json, metrics.csv  the run's metrics  summary.txt   versions, timings, checks, PASS/FAIL
#
# The device command (prepare here, in the repository root, first):
#
#   make trainer && mkdir -p .device && cp ../shared/datasets/cifar10-jpeg.tar.gz .device/
#   device run: command "bash scripts/gpu_check.sh", carry ["bin", ".device"], timeout_s 580
#
# (bin/ and .device/ are ignored, so they travel only when carried; build/ is
# built there.) A shorter check: "EPOCHS=2 bash scripts/gpu_check.sh".
#
# CPU mode, everything a machine without a GPU can test of the same path
# (builds the library, runs one epoch on a small slice with -device cpu,
# checks the files):
#
#   scripts/gpu_check.sh --cpu-smoke                 # or CPU_SMOKE=1
#   BUILD=.device/build-smoke scripts/gpu_check.sh --cpu-smoke   # leave build/ alone
#
# (make test runs this mode: cmd/trainer/gpucheck_test.go.)
#
# Settings (flags override the environment):
#   --cpu-smoke | CPU_SMOKE=1   CPU mode (defaults: LIBTORCH=/usr, EPOCHS=1, DEVICE=cpu,
#                               TRAIN_LIMIT=256, TEST_LIMIT=500, THREADS=2, WORKERS=2)
#   --epochs N  | EPOCHS        default 20
#   --lr X      | LR            default 0.05
#   --model M   | MODEL         default: the trainer's
#   --device D  | DEVICE        default cuda
#   --data F    | DATA          default .device/cifar10-jpeg.tar.gz (CPU mode falls back to
#                               ../shared/datasets/cifar10-jpeg.tar.gz)
#   --out DIR   | OUT           default $OUT of the device tool, else out/gpu-check
#   RUN_DIR        the trainer's -out (default runs/gpu-run; runs/gpu-smoke in CPU mode)
#   LIBTORCH       the libtorch to build against (default: python3's torch; /usr in CPU mode)
#   PYTHON         default python3 (/usr/bin/python3 in CPU mode)
#   BUILD          the library's build folder (default build)
#   TRAINER        default bin/trainer
#   TRAIN_LIMIT, TEST_LIMIT, THREADS, WORKERS   passed on when set
#   TRAIN_TIMEOUT  seconds before the trainer gets SIGINT (it then checkpoints; default 480)
#   -- ARGS...     further trainer flags

set -uo pipefail

usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0"; }

CPU_SMOKE=${CPU_SMOKE:-0}
EXTRA=()
while [ $# -gt 0 ]; do
	case "$1" in
	--cpu-smoke) CPU_SMOKE=1 ;;
	--epochs) EPOCHS=$2; shift ;;
	--lr) LR=$2; shift ;;
	--model) MODEL=$2; shift ;;
	--device) DEVICE=$2; shift ;;
	--data) DATA=$2; shift ;;
	--out) OUT=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	--) shift; EXTRA=("$@"); break ;;
	*) echo "gpu_check.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done

cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
TRAINER=${TRAINER:-bin/trainer}
BUILD=${BUILD:-build}
LR=${LR:-0.05}
TRAIN_TIMEOUT=${TRAIN_TIMEOUT:-480}
if [ "$CPU_SMOKE" = 1 ]; then
	MODE="cpu-smoke"
	# Debian's python3 holds Debian's torch, the one /usr's libtorch matches.
	[ -x /usr/bin/python3 ] && PYTHON=${PYTHON:-/usr/bin/python3}
	LIBTORCH=${LIBTORCH:-/usr}
	EPOCHS=${EPOCHS:-1}
	DEVICE=${DEVICE:-cpu}
	TRAIN_LIMIT=${TRAIN_LIMIT:-256}
	TEST_LIMIT=${TEST_LIMIT:-500}
	THREADS=${THREADS:-2}
	WORKERS=${WORKERS:-2}
	RUN_DIR=${RUN_DIR:-runs/gpu-smoke}
	if [ -z "${DATA:-}" ]; then
		DATA=.device/cifar10-jpeg.tar.gz
		[ -f "$DATA" ] || DATA=../shared/datasets/cifar10-jpeg.tar.gz
	fi
else
	MODE="gpu"
	EPOCHS=${EPOCHS:-20}
	DEVICE=${DEVICE:-cuda}
	RUN_DIR=${RUN_DIR:-runs/gpu-run}
	DATA=${DATA:-.device/cifar10-jpeg.tar.gz}
fi
PYTHON=${PYTHON:-python3}
OUT=${OUT:-out/gpu-check}
mkdir -p "$OUT" || exit 1
OUT=$(cd "$OUT" && pwd)
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"
: >"$OUT/gpu_check.log"
exec > >(tee -a "$OUT/gpu_check.log") 2>&1
TEE_PID=$!

FAILED=()
note() { echo "$*" | tee -a "$SUMMARY"; }
fail() { FAILED+=("$1"); note "FAIL: $1"; }
section() { echo; echo "=== $* ($(date -u +%H:%M:%S))"; }
finish() {
	local status=PASS
	local IFS=';'
	[ ${#FAILED[@]} -eq 0 ] || status="FAIL (${FAILED[*]})"
	note "result: $status"
	local rc=0
	[ ${#FAILED[@]} -eq 0 ] || rc=1
	exec >&- 2>&-
	wait "$TEE_PID" 2>/dev/null # let the log be complete before the files are collected
	exit $rc
}
# seconds since $1 (from now_ns), with one decimal
now_ns() { date +%s%N; }
since() { local d=$(($(now_ns) - $1)); printf '%d.%d' $((d / 1000000000)) $((d / 100000000 % 10)); }

section "gpu_check.sh $MODE in $ROOT"
note "mode: $MODE"
note "date: $(date -u '+%Y-%m-%d %H:%M:%S') UTC"
note "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
note "trainer: $TRAINER, data: $DATA, epochs: $EPOCHS, lr: $LR, device: $DEVICE, run dir: $RUN_DIR"

# The PyTorch install: version, CUDA, ABI and where it lives.
section "python3 torch"
TORCH_INFO=$("$PYTHON" - <<'EOF' 2>&1
import os, torch
print("torch_dir", os.path.dirname(torch.__file__))
print("torch", torch.__version__)
print("cuda", torch.version.cuda)
print("cudnn", torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None)
print("cuda_available", torch.cuda.is_available())
print("device_name", torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
print("cxx11_abi", int(getattr(torch._C, "_GLIBCXX_USE_CXX11_ABI", True)))
EOF
)
echo "$TORCH_INFO"
tinfo() { echo "$TORCH_INFO" | awk -v k="$1" '$1 == k {print $2}'; }
PY_TORCH_DIR=$(tinfo torch_dir)
note "python torch: $(tinfo torch) (CUDA $(tinfo cuda), cuDNN $(tinfo cudnn), GPU available: $(tinfo cuda_available), $(echo "$TORCH_INFO" | sed -n 's/^device_name //p'))"
if [ -z "${LIBTORCH:-}" ]; then
	if [ -z "$PY_TORCH_DIR" ]; then
		fail "python3 has no torch: set LIBTORCH"
		finish
	fi
	LIBTORCH=$PY_TORCH_DIR
fi
note "libtorch to build against: $LIBTORCH"

section "nvidia-smi"
if command -v nvidia-smi >/dev/null; then
	nvidia-smi 2>&1 | tee "$OUT/nvidia-smi.txt"
	note "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)"
elif [ "$MODE" = gpu ]; then
	fail "nvidia-smi not found"
else
	echo "no nvidia-smi (CPU mode)" | tee "$OUT/nvidia-smi.txt"
fi

# Build the C++ library. A PyTorch install says its C++ ABI; Debian's /usr is
# the new ABI, which the Makefile assumes.
section "make lib"
MAKE_ARGS=(lib "LIBTORCH=$LIBTORCH" "BUILD=$BUILD")
if [ "$LIBTORCH" != /usr ] && [ "$LIBTORCH" = "$PY_TORCH_DIR" ]; then
	MAKE_ARGS+=("CXX11_ABI=$(tinfo cxx11_abi)")
fi
t0=$(now_ns)
echo "+ make -j$(nproc) ${MAKE_ARGS[*]}" > "$OUT/build.log" # says what ran, even when make has nothing to do
make -j"$(nproc)" "${MAKE_ARGS[@]}" 2>&1 | tee -a "$OUT/build.log"
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ] && grep -q 'C++20 or later' "$OUT/build.log"; then
	# Newer PyTorch headers may refuse C++17: retry with the Makefile's CXXSTD.
	note "build: these torch headers need C++20; retrying with CXXSTD=c++20"
	rm -rf "$BUILD/obj"
	make -j"$(nproc)" "${MAKE_ARGS[@]}" CXXSTD=c++20 2>&1 | tee -a "$OUT/build.log"
	rc=${PIPESTATUS[0]}
fi
note "build: make ${MAKE_ARGS[*]} -> exit $rc in $(since "$t0")s"
if [ "$rc" -ne 0 ] || [ ! -f "$BUILD/libctorch.so" ]; then
	fail "build"
	finish
fi

BUILD_DIR=$(cd "$BUILD" && pwd)
export LD_LIBRARY_PATH="$BUILD_DIR:$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
section "libraries"
if [ ! -x "$TRAINER" ]; then
	fail "no executable $TRAINER (build it with make trainer where Go is, and carry bin)"
	finish
fi
LDD_OUT=$(ldd "$TRAINER" 2>&1)
echo "$LDD_OUT"
grep -q "libctorch.so => $BUILD_DIR/libctorch.so" <<<"$LDD_OUT" || fail "$TRAINER does not pick up $BUILD/libctorch.so"
ldd "$BUILD/libctorch.so" | grep -E 'torch|c10|not found' || true
if ldd "$BUILD/libctorch.so" | grep -q 'not found'; then
	fail "libctorch.so has unresolved libraries"
	finish
fi

# Train.
section "train"
# -log-level debug: each epoch also logs where its steps spent their time.
ARGS=(-epochs "$EPOCHS" -lr "$LR" -device "$DEVICE" -data "$DATA" -out "$RUN_DIR" -log-level debug)
[ -n "${MODEL:-}" ] && ARGS+=(-model "$MODEL")
[ -n "${TRAIN_LIMIT:-}" ] && ARGS+=(-train-limit "$TRAIN_LIMIT")
[ -n "${TEST_LIMIT:-}" ] && ARGS+=(-test-limit "$TEST_LIMIT")
[ -n "${THREADS:-}" ] && ARGS+=(-threads "$THREADS")
[ -n "${WORKERS:-}" ] && ARGS+=(-workers "$WORKERS")
ARGS+=("${EXTRA[@]}")
[ -f "$DATA" ] || [ -d "$DATA" ] || { fail "no data at $DATA"; finish; }
rm -rf "$RUN_DIR"
note "command: LD_LIBRARY_PATH=$LD_LIBRARY_PATH $TRAINER ${ARGS[*]}"
SMI_PID=
if [ "$MODE" = gpu ] && command -v nvidia-smi >/dev/null; then
	nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used,power.draw --format=csv -l 5 >"$OUT/.smi-samples.csv" 2>&1 &
	SMI_PID=$!
fi
t0=$(now_ns)
timeout --signal=INT --kill-after=30 "$TRAIN_TIMEOUT" "$TRAINER" "${ARGS[@]}" 2>&1 | tee "$OUT/train.log"
rc=${PIPESTATUS[0]}
train_s=$(since "$t0")
if [ -n "$SMI_PID" ]; then
	kill "$SMI_PID" 2>/dev/null
	wait "$SMI_PID" 2>/dev/null
	{ echo; echo "# during training: nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used,power.draw -l 5"; cat "$OUT/.smi-samples.csv"; } >>"$OUT/nvidia-smi.txt"
	rm -f "$OUT/.smi-samples.csv"
fi
note "train: exit $rc in ${train_s}s (wall, including data loading and start-up)"
[ "$rc" -eq 0 ] || fail "trainer exited $rc"
if [ "$DEVICE" != auto ]; then
	grep -q "^Device: ${DEVICE%%:*}" "$OUT/train.log" || fail "trainer did not report Device: $DEVICE"
fi
for f in metrics.json metrics.csv; do
	[ -f "$RUN_DIR/$f" ] && cp "$RUN_DIR/$f" "$OUT/$f"
done

# Check what the run left and what it measured.
section "checks"
for f in checkpoint.pt best_state_dict.pt model_state_dict.pt model_torchscript.pt \
	metrics.json metrics.csv loss.png accuracy.png lr.png confusion_matrix.png; do
	if [ -s "$RUN_DIR/$f" ]; then
		echo "ok: $RUN_DIR/$f ($(stat -c %s "$RUN_DIR/$f") bytes)"
	else
		fail "missing $RUN_DIR/$f"
	fi
done
n_test=$(grep -c '^Test set: Average loss' "$OUT/train.log")
[ "$n_test" -eq "$EPOCHS" ] || fail "$n_test test passes logged, want $EPOCHS"
"$PYTHON" - "$RUN_DIR" "$EPOCHS" "$DEVICE" "$OUT/train.log" <<'EOF' 2>&1 | tee -a "$SUMMARY"
import json, os, re, sys
run, epochs, device, train_log = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ok = True
try:
    h = json.load(open(os.path.join(run, "metrics.json")))
except Exception as e:
    print(f"FAIL: metrics.json: {e}"); sys.exit(1)
if len(h) != epochs:
    print(f"FAIL: metrics.json has {len(h)} epochs, want {epochs}"); ok = False
if h:
    last = h[-1]
    print("epochs: " + ", ".join(f"{r['epoch']}: {r['test_acc']:.2f}% {r['epoch_seconds']:.1f}s" for r in h))
    print(f"final: test_acc {last['test_acc']:.2f}%, test_loss {last['test_loss']:.4f}, "
          f"train_loss {last['train_loss']:.4f}, lr {last['lr']:.3g}")
    rest = h[1:] or h
    print(f"timing: first epoch {h[0]['epoch_seconds']:.2f}s; later epochs mean "
          f"{sum(r['epoch_seconds'] for r in rest) / len(rest):.2f}s, training "
          f"{sum(r['images_per_sec'] for r in rest) / len(rest):.0f} images/s, test pass "
          f"{sum(r['test_seconds'] for r in rest) / len(rest):.2f}s; total "
          f"{sum(r['epoch_seconds'] for r in h):.1f}s")
    if epochs == 20 and device.startswith("cuda"):
        total = sum(r['epoch_seconds'] for r in h)
        met = total < 60 and last['test_acc'] >= 85
        print(f"goal (20 epochs in under 60 s at 85%+ test accuracy): {'met' if met else 'not met'} "
              f"({total:.1f} s, {last['test_acc']:.2f}%)")
    # The trainer's debug line per epoch: host time by part of the step.
    parts = ["data_wait", "input", "forward", "backward", "update", "stats"]
    phases = []
    for line in open(train_log, errors="replace"):
        if "training time by part of the step" in line:
            kv = dict(re.findall(r'(\w+)=([0-9.]+)', line))
            if all(k in kv for k in parts + ["seconds", "epoch"]):
                phases.append(kv)
    later = [p for p in phases if int(p["epoch"]) > 1] or phases
    if later:
        total = sum(float(p["seconds"]) for p in later)
        sums = {k: sum(float(p[k]) for p in later) for k in parts}
        print(f"training time by part of the step (epochs {later[0]['epoch']}-{later[-1]['epoch']}, "
              f"{total:.2f}s): " + ", ".join(
                  f"{k} {v:.2f}s ({100 * v / max(total, 1e-9):.0f}%)" for k, v in sums.items()))
    else:
        print("FAIL: no 'training time by part of the step' lines in the trainer's log"); ok = False
    for r in h:
        for k, v in r.items():
            if v is None:
                print(f"FAIL: epoch {r['epoch']}: {k} is not finite"); ok = False
try:
    import torch
    dev = torch.device(device if device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    m = torch.jit.load(os.path.join(run, "model_torchscript.pt"), map_location=dev)
    m.eval()
    with torch.no_grad():
        y = m(torch.randn(4, 3, 32, 32, device=dev))
    assert tuple(y.shape) == (4, 10), y.shape
    print(f"torchscript: loads in torch {torch.__version__} and runs on {dev}: output {tuple(y.shape)}")
except Exception as e:
    print(f"FAIL: torchscript: {e}"); ok = False
sys.exit(0 if ok else 1)
EOF
[ "${PIPESTATUS[0]}" -eq 0 ] || FAILED+=("metrics or torchscript")
finish
