#!/bin/sh
# The optimizer study of docs/results.md, end to end (about 2 h 15 min on a
# 2-core machine with llvmpipe; nothing else should run meanwhile, since wall
# times are part of the result). Every command is also listed in the doc.
# Arguments go to every `compare`: a second run into the same directories
# refuses until given `--overwrite` (sh scripts/study.sh --overwrite).
set -eu
extra="$*"
sets="--set schedule.epochs=3 --set optimizer.stat_every=20 --set optimizer.root_every=200 --set run.log_every=25 --quiet"

# 1. AdamW vs AdamW_BK (the example's lr 2e-3 and weight decay 0.05 for both), 3 seeds, 3 epochs.
deno task compare examples/fashion_cnn.yaml $extra --optimizers adamw,adamw_bk --seeds 3 \
  --set optimizer.name=adamw_bk $sets --out runs/study-adamw
# 2. SGDM vs SGDM_BK (lr 0.05 in the reference code's momentum form, weight decay 5e-4 for both).
deno task compare examples/fashion_cnn.yaml $extra --optimizers sgdm,sgdm_bk --seeds 3 \
  --lr sgdm=0.05 --lr sgdm_bk=0.05 --set optimizer.weight_decay=5.0e-4 \
  --set optimizer.name=sgdm_bk $sets --out runs/study-sgdm
# 3. Root-mode ablation: AdamW_BK with converged roots, otherwise as 1.
deno task compare examples/fashion_cnn.yaml $extra --optimizers adamw_bk --seeds 3 \
  --set optimizer.name=adamw_bk --set optimizer.root_method=converged $sets \
  --out runs/study-adamw-converged
# 4. Equal wall-time budget: AdamW for 4 epochs.
deno task compare examples/fashion_cnn.yaml $extra --optimizers adamw --seeds 3 \
  --set schedule.epochs=4 --set run.log_every=25 --quiet --out runs/budget-adamw-4ep
# 5. Cadence and damping, one change at a time (AdamW_BK, seed 0).
one="--optimizers adamw_bk --seeds 1 --set optimizer.name=adamw_bk --set schedule.epochs=3 --set run.log_every=25 --quiet"
deno task compare examples/fashion_cnn.yaml $extra $one --set optimizer.stat_every=5 \
  --set optimizer.root_every=50 --out runs/cadence-ts5-tir50
deno task compare examples/fashion_cnn.yaml $extra $one --set optimizer.stat_every=80 \
  --set optimizer.root_every=800 --out runs/cadence-ts80-tir800
deno task compare examples/fashion_cnn.yaml $extra $one --set optimizer.stat_every=20 \
  --set optimizer.root_every=200 --set optimizer.damping=1.0e-3 --out runs/damping-ref-eps1e-3
deno task compare examples/fashion_cnn.yaml $extra $one --set optimizer.stat_every=20 \
  --set optimizer.root_every=200 --set optimizer.damping=1.0e-3 \
  --set optimizer.root_method=converged --out runs/damping-conv-eps1e-3

# Figures and tables of the doc, from the run directories above.
deno task adabk report runs/study-adamw/*-seed* --out runs/report-adamw
deno task adabk report runs/study-sgdm/*-seed* --out runs/report-sgdm
deno task adabk report runs/study-adamw/*-seed* runs/study-sgdm/*-seed* --out runs/report-all
deno task adabk report runs/study-adamw/adamw_bk-seed* runs/study-adamw-converged/*-seed* \
  --label "runs/study-adamw-converged=adamw_bk converged" --out runs/report-roots
deno task adabk report runs/study-adamw/adamw_bk-seed* runs/budget-adamw-4ep/*-seed* \
  --label "runs/budget-adamw-4ep=adamw 4 epochs" --out runs/report-budget
deno task adabk report runs/study-adamw/adamw_bk-seed0 runs/cadence-*/*-seed0 runs/damping-*/*-seed0 \
  --label "runs/study-adamw=main: T_s 20, T_ir 200, eps 1e-5" \
  --label "runs/cadence-ts5-tir50=T_s 5, T_ir 50" --label "runs/cadence-ts80-tir800=T_s 80, T_ir 800" \
  --label "runs/damping-ref-eps1e-3=eps 1e-3" --label "runs/damping-conv-eps1e-3=eps 1e-3, converged" \
  --out runs/report-cadence
