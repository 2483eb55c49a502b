#!/bin/bash
# Submits a sweep as a job array of one task per trial, and the collect job
# after it (--dependency=afterany); prints the two job ids. The arguments
# are those of `trainer sweep`; sbatch options go in SBATCH_* variables
# (SBATCH_PARTITION, SBATCH_TIMELIMIT, ...) or the scripts' #SBATCH lines.
#   scripts/slurm/submit.sh -out runs/sweep -param lr=0.02,0.05 -param seed=1..4 -data DATA
set -euo pipefail
here=$(dirname "$0")
n=$("${TRAINER:-trainer}" sweep -list "$@" | wc -l)
array=$(sbatch --parsable --array="0-$((n - 1))" "$here/sweep.sbatch" "$@")
collect=$(sbatch --parsable --dependency="afterany:${array%%;*}" "$here/collect.sbatch" "$@")
echo "$array $collect"
