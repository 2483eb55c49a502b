#!/usr/bin/env bash
# ablation.sh: 20-epoch training runs, one after another, from a queue file.
#
#   scripts/ablation.sh QUEUE OUTDIR
#   TRAINER=bin/trainer DATA=../shared/datasets/cifar10-jpeg.tar.gz EPOCHS=20 EVAL_FLAGS= scripts/ablation.sh ...
#
# Each line of QUEUE is "NAME FLAGS..." (# starts a comment). The first line
# is taken off the file when a run starts, so the queue may be edited while
# it runs. Each run trains `trainer -epochs EPOCHS -lr 0.05 -autocast -data
# DATA -out OUTDIR/NAME FLAGS` and then evaluates its exported weights (the
# EMA's with -ema; without it they are the raw ones and not evaluated
# twice) and its raw final weights (the checkpoint's "model"), each
# without and with flip TTA, and the raw weights with flip and
# translate TTA (-tta -tta-translate): eval-*.json, read by
# ablation_table.py.
# One run at a time: two trainings on one machine slow each other down far
# more than twice.
set -u
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: $0 QUEUE OUTDIR" >&2; exit 2; }
QUEUE=$1
OUTDIR=$2
TRAINER=${TRAINER:-bin/trainer}
DATA=${DATA:-../shared/datasets/cifar10-jpeg.tar.gz}
EPOCHS=${EPOCHS:-20}
EVAL_FLAGS=${EVAL_FLAGS:-} # extra flags of the evaluations (a test uses -test-limit)
PY=/usr/bin/python3
while line=$(grep -v '^\s*#' "$QUEUE" | grep -v '^\s*$' | head -1) && [ -n "$line" ]; do
	"$PY" - "$QUEUE" "$line" <<'PY'
import sys
path, line = sys.argv[1], sys.argv[2]
lines = open(path).read().split("\n")
lines.remove(line)
open(path, "w").write("\n".join(lines))
PY
	read -r name flags <<<"$line"
	out=$OUTDIR/$name
	mkdir -p "$out"
	# shellcheck disable=SC2206
	cmd=("$TRAINER" -epochs "$EPOCHS" -lr 0.05 -autocast -data "$DATA" -out "$out" $flags)
	echo "${cmd[*]}" >"$out/command.txt"
	echo "start $(date -u +%FT%TZ) code $(git rev-parse --short HEAD)" >"$out/time.txt"
	s=$(date +%s)
	"${cmd[@]}" >"$out/train.log" 2>&1
	rc=$?
	echo "end $(date -u +%FT%TZ) rc $rc seconds $(($(date +%s) - s))" >>"$out/time.txt"
	[ $rc -eq 0 ] || { echo "$name failed ($rc): $out/train.log"; continue; }
	"$PY" -c 'import collections, sys, torch
torch.save(collections.OrderedDict(torch.load(sys.argv[1])["model"]), sys.argv[2])' \
		"$out/checkpoint.pt" "$out/raw_state_dict.pt" 2>>"$out/eval.log"
	model=() # the run's network, which a state_dict does not name
	# shellcheck disable=SC2086
	set -- $flags
	while [ $# -gt 0 ]; do
		[ "$1" = -model ] && [ $# -gt 1 ] && model=(-model "$2")
		shift
	done
	weights=(raw_state_dict) # without -ema the exported weights are the raw ones
	case " $flags " in *" -ema "*) weights=(model_state_dict raw_state_dict) ;; esac
	for w in "${weights[@]}"; do
		for tta in false true; do
			# shellcheck disable=SC2086
			"$TRAINER" evaluate -weights "$out/$w.pt" -data "$DATA" -tta="$tta" -json "${model[@]}" $EVAL_FLAGS \
				>"$out/eval-$w-tta$tta.json" 2>>"$out/eval.log"
		done
	done
	# shellcheck disable=SC2086
	"$TRAINER" evaluate -weights "$out/raw_state_dict.pt" -data "$DATA" -tta -tta-translate -json "${model[@]}" $EVAL_FLAGS \
		>"$out/eval-raw_state_dict-ttatranslate.json" 2>>"$out/eval.log"
	echo "$name done: $(date -u +%FT%TZ)"
done
