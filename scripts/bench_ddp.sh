#!/usr/bin/env bash
# bench_ddp.sh: data-parallel training on one machine, measured. Runs the
# same short training three ways on the same data, recipe and seed:
#
#   1x1  one process, 1 libtorch thread                 (the unit of scaling)
#   1x2  one process, 2 threads                         (the single-process default on 2 cores)
#   2x1  two ranks under torchrun, 1 thread each        (DDP over Gloo)
#
# and writes a Markdown summary: training images/s (metrics.json: images of
# the training pass over its wall time, every rank's images for 2x1), test
# pass seconds, wall seconds of the whole command, final test accuracy, and
# the scaling efficiency of 2x1: its images/s over twice 1x1's, and over 1x2's.
#
#   scripts/bench_ddp.sh [RESULTS]     # default docs/results/bench-ddp-<UTC date>.md
#   TRAINER=bin/trainer DATA=../shared/datasets/cifar10-jpeg.tar.gz MODEL=seed \
#   EPOCHS=1 TRAIN_LIMIT=5120 TEST_LIMIT=1000 BATCH=128 WORKERS=1 scripts/bench_ddp.sh
#
# The batch size is per rank, as in DDP: 2x1 takes 2*BATCH images a step
# (half as many steps per epoch). Debian's torchrun needs --redirects 2
# --tee 2 under Python 3.11 (pytorch#92319).
set -eu
cd "$(dirname "$0")/.."
TRAINER=${TRAINER:-bin/trainer}
DATA=${DATA:-../shared/datasets/cifar10-jpeg.tar.gz}
MODEL=${MODEL:-seed}
EPOCHS=${EPOCHS:-1}
TRAIN_LIMIT=${TRAIN_LIMIT:-5120}
TEST_LIMIT=${TEST_LIMIT:-1000}
BATCH=${BATCH:-128}
WORKERS=${WORKERS:-1}
TORCHRUN=${TORCHRUN:-torchrun}
RESULTS=${1:-docs/results/bench-ddp-$(date -u +%Y-%m-%d).md}
[ -x "$TRAINER" ] || make trainer >/dev/null
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
ARGS=(-model "$MODEL" -epochs "$EPOCHS" -batch-size "$BATCH" -train-limit "$TRAIN_LIMIT"
	-test-limit "$TEST_LIMIT" -workers "$WORKERS" -device cpu -data "$DATA")

# Fill the data cache outside the measurement.
"$TRAINER" "${ARGS[@]}" -epochs 1 -train-limit 64 -test-limit 10 -out "$OUT/warm" >"$OUT/warm.log" 2>&1 ||
	{ echo "warm-up run failed:"; tail "$OUT/warm.log"; exit 1; }

run() { # name, command...
	local name=$1
	shift
	local start end
	start=$(date +%s.%N)
	"$@" -out "$OUT/$name" >"$OUT/$name.log" 2>&1 || { echo "$name failed:"; tail -20 "$OUT/$name.log"; exit 1; }
	end=$(date +%s.%N)
	python3 - "$OUT/$name/metrics.json" "$start" "$end" >"$OUT/$name.row" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
n = len(m)
ips = sum(e["images_per_sec"] for e in m) / n
test = sum(e["test_seconds"] for e in m) / n
print(f'{ips:.1f} {test:.2f} {float(sys.argv[3]) - float(sys.argv[2]):.1f} {m[-1]["test_acc"]:.2f}')
PY
}

run 1x1 "$TRAINER" "${ARGS[@]}" -threads 1
run 1x2 "$TRAINER" "${ARGS[@]}" -threads 2
run 2x1 env OMP_NUM_THREADS=1 "$TORCHRUN" --standalone --nproc_per_node 2 --redirects 2 --tee 2 --no_python \
	"$TRAINER" "${ARGS[@]}" -threads 1

read -r ips11 test11 wall11 acc11 <"$OUT/1x1.row"
read -r ips12 test12 wall12 acc12 <"$OUT/1x2.row"
read -r ips21 test21 wall21 acc21 <"$OUT/2x1.row"
eff() { python3 -c "print(f'{($1) / ($2):.2f}')"; }
{
	echo "## DDP on one machine, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "\`$MODEL\`, $EPOCHS epoch(s) of $TRAIN_LIMIT training images (batch $BATCH per process), $TEST_LIMIT test images,"
	echo "$WORKERS loader goroutine(s) per process, on $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))."
	echo "Command: \`scripts/bench_ddp.sh\` with MODEL=$MODEL TRAIN_LIMIT=$TRAIN_LIMIT EPOCHS=$EPOCHS BATCH=$BATCH WORKERS=$WORKERS."
	echo
	echo "| run | training images/s | test pass s | wall s | test accuracy % |"
	echo "|---|---|---|---|---|"
	echo "| 1 process x 1 thread | $ips11 | $test11 | $wall11 | $acc11 |"
	echo "| 1 process x 2 threads | $ips12 | $test12 | $wall12 | $acc12 |"
	echo "| 2 ranks x 1 thread (torchrun, Gloo) | $ips21 | $test21 | $wall21 | $acc21 |"
	echo
	echo "Scaling efficiency of 2 ranks: $(eff "$ips21" "2 * $ips11") of twice one thread's images/s;"
	echo "$(eff "$ips21" "$ips12") times one process with 2 threads. (The accuracies differ: 2 ranks take"
	echo "half as many steps of twice the images.)"
} | tee -a "$RESULTS"
