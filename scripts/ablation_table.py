#!/usr/bin/env python3
"""ablation_table.py: the Markdown table of 20-epoch ablation runs.

Each run folder holds what scripts/ablation.sh left there: command.txt,
time.txt (start, end, seconds), the run's metrics.json, and
eval-<weights>-tta<bool>.json, `trainer evaluate -json` of the exported
weights (the EMA's when the run had -ema) and of the raw final weights
(the checkpoint's "model"), each without and with flip TTA, and
eval-raw_state_dict-ttatranslate.json, the raw weights with flip and
translate TTA (runs from before it have an empty cell).

    scripts/ablation_table.py RUN_DIR [RUN_DIR ...]
"""
import json
import os
import sys


def acc(run, weights, tta):
    """tta: False, True (flips) or "translate" (flips and translations)."""
    p = os.path.join(run, f"eval-{weights}-tta{str(tta).lower()}.json")
    if not os.path.exists(p):
        return None
    return json.load(open(p))["accuracy"]


def recipe(run):
    """The run header's recipe line: "Recipe: NAME (settings that differ
    from the seed's)"."""
    for line in open(os.path.join(run, "train.log")):
        if line.startswith("Recipe: "):
            return line[len("Recipe: "):].strip()
    return ""


def fmt(v):
    return "" if v is None else f"{v:.2f}"


def main(runs):
    print("| run | flags (beyond the command below) | recipe (the run header) | raw | raw + TTA | raw + TTA6 | EMA | EMA + TTA | train acc (last epoch) | minutes | started (UTC) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        name = os.path.basename(os.path.normpath(run))
        cmd = open(os.path.join(run, "command.txt")).read().split()
        flags = " ".join(cmd[cmd.index("-out") + 2:])
        t = open(os.path.join(run, "time.txt")).read().split()
        start = t[1]
        secs = float(t[t.index("seconds") + 1]) if "seconds" in t else None
        m = json.load(open(os.path.join(run, "metrics.json")))
        rec = recipe(run)
        ema = "weight EMA" in rec
        raw = acc(run, "raw_state_dict", False)
        row = [name, f"`{flags}`", rec, fmt(raw), fmt(acc(run, "raw_state_dict", True)),
               fmt(acc(run, "raw_state_dict", "translate")),
               fmt(acc(run, "model_state_dict", False)) if ema else "", fmt(acc(run, "model_state_dict", True)) if ema else "",
               f"{m[-1]['train_acc']:.2f}", "" if secs is None else f"{secs / 60:.1f}", start[:16].replace("T", " ")]
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
