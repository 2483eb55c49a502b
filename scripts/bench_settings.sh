#!/usr/bin/env bash
# bench_settings.sh: the trainer's start-up settings, measured. trainer
# restarts itself once with GLIBC_TUNABLES=glibc.malloc.arena_max=1 and
# GODEBUG=asyncpreemptoff=1 (cmd/trainer/main.go, restartWithSettings);
# this runs one epoch on a slice of the data with each combination:
#
#   A  both (the default)
#   B  asynchronous preemption on    GODEBUG=asyncpreemptoff=0
#   C  no arena setting at start     GOTRAIN_RESTARTED=1 GODEBUG=asyncpreemptoff=1
#   D  neither                       GOTRAIN_RESTARTED=1 GODEBUG=asyncpreemptoff=0
#
# and prints a Markdown table: images/s in training (from the epoch's log
# line), the process's minor page faults and wall time (/usr/bin/time).
#
#   scripts/bench_settings.sh [ROUNDS] [CONFIGS]    # defaults: 2 rounds, ABCD
#   TRAINER=bin/trainer DATA=../shared/datasets/cifar10-jpeg.tar.gz TRAIN_LIMIT=6400
set -u
cd "$(dirname "$0")/.."
TRAINER=${TRAINER:-bin/trainer}
DATA=${DATA:-../shared/datasets/cifar10-jpeg.tar.gz}
TRAIN_LIMIT=${TRAIN_LIMIT:-6400}
ROUNDS=${1:-2}
CONFIGS=${2:-ABCD}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

run() { # name, env...
	local name=$1
	shift
	env "$@" /usr/bin/time -f "%R %e" -o "$OUT/time" "$TRAINER" -epochs 1 -train-limit "$TRAIN_LIMIT" \
		-test-limit 500 -data "$DATA" -out "$OUT/$name" >"$OUT/log" 2>&1 || { echo "$name failed:"; tail "$OUT/log"; exit 1; }
	local ips faults secs
	ips=$(grep -o 'images_per_sec=[0-9.]*' "$OUT/log" | cut -d= -f2)
	read -r faults secs <"$OUT/time"
	rm -rf "${OUT:?}/$name"
	printf '| %s | %.0f | %s | %s |\n' "$name" "$ips" "$faults" "$secs"
}

echo "| setting | images/s in training | minor page faults | wall s |"
echo "|---|---|---|---|"
for _ in $(seq "$ROUNDS"); do
	case $CONFIGS in *A*) run "A both (default)" ;; esac
	case $CONFIGS in *B*) run "B preemption on" GODEBUG=asyncpreemptoff=0 ;; esac
	case $CONFIGS in *C*) run "C no arena setting" GOTRAIN_RESTARTED=1 GODEBUG=asyncpreemptoff=1 ;; esac
	case $CONFIGS in *D*) run "D neither" GOTRAIN_RESTARTED=1 GODEBUG=asyncpreemptoff=0 ;; esac
done
