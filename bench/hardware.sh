#!/usr/bin/env bash
# The hardware benchmark of record, for an offline NVIDIA machine (no network, no Deno):
#   here:   ../shared/tools/device/pack.sh --with-data
#   there:  bash .device/on-device.sh bash bench/hardware.sh [STEP…]
# Each step has its own time limit, so one slow step cannot lose the others. Everything
# goes to $OUT (default hw-out/): hardware.log (all output, written as it runs), the profiles
# and the PyTorch twin's JSON as they finish, and results.tgz (bench/results, demo metrics).
# Steps (default: all, in this order): tests profile-cnn conv matmul torch profile-resnet
# roots demo torch-demo.
set -uo pipefail
out=${OUT:-hw-out}
mkdir -p "$out"
log="$out/hardware.log"
perm="--no-prompt --allow-read=. --allow-write=bench/results,.cache,runs,$out \
--allow-env=LOG_TOKENS,LOG_STREAM,ADABK_DUMP_WGSL,ADABK_NO_WEBGPU,ADABK_TUNE,XDG_RUNTIME_DIR"
say() { printf '\n=== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)" >>"$log"; }
step() { # step NAME SECONDS COMMAND…
  local name=$1 secs=$2
  shift 2
  say "$name: $*"
  local t0=$SECONDS
  timeout -k 5 "$secs" "$@" >>"$log" 2>&1
  echo "--- $name: exit $? after $((SECONDS - t0)) s" >>"$log"
}
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(tests profile-cnn conv matmul torch profile-resnet roots demo torch-demo)
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv 2>&1
  deno --version 2>&1 | head -1
} >>"$log"
for s in "${steps[@]}"; do
  case $s in
  tests) step tests 120 deno test $perm --allow-run=deno tests/kernels/matmul_reg_test.ts \
    tests/kernels/conv_gemm_test.ts tests/kernels/gram_gemm_test.ts tests/kernels/root_chain_test.ts \
    tests/kernels/norm_recovery_test.ts tests/kernels/conv_family_test.ts tests/kernels/matmul_test.ts \
    tests/kernels/batchnorm_pool_test.ts tests/plan/bn_pool_fusion_test.ts tests/optim/multi_tensor_test.ts \
    tests/kernels/batchnorm_add_test.ts tests/plan/bn_add_fusion_test.ts tests/kernels/reduce_family_test.ts ;;
  profile-cnn) step profile-cnn 45 deno run $perm bench/profile.ts examples/fashion_cnn.yaml \
    --json "$out/profile-cnn.json" --md "$out/profile-cnn.md" ;;
  profile-resnet) step profile-resnet 45 deno run $perm bench/profile.ts examples/fashion_resnet.yaml \
    --set 'optimizer={name: sgdm_bk, lr: 0.1, weight_decay: 5.0e-4}' \
    --json "$out/profile-resnet.json" --md "$out/profile-resnet.md" ;;
  conv) step conv 60 deno run $perm bench/sections/conv.ts --no-peer --variants --quick ;;
  matmul) step matmul 75 deno run $perm bench/main.ts --only=matmul ;;
  roots) step roots 60 deno run $perm bench/main.ts --only=roots,optim ;;
  torch) step torch 45 python3 bench/peer/torch_twin.py --only matmul,roots,cnn_step,resnet_step \
    --out "$out/torch.json" ;;
  demo) step demo 90 deno run $perm --allow-run=npm cli/main.ts train examples/fashion_cnn.yaml \
    --out runs/hw-demo --overwrite ;;
  torch-demo) step torch-demo 60 python3 bench/peer/torch_twin.py --only demo --data .cache/fashion-mnist \
    --out "$out/torch-demo.json" ;;
  *) echo "unknown step $s" >>"$log" ;;
  esac
done
# At most 8 files come back from a device run: the bench tables, the demo's metrics and the
# tuning cache (every problem's candidates timed: what the hardware heuristics should pick) in one.
tar -czf "$out/results.tgz" bench/results runs/hw-demo/metrics.jsonl .cache/tune.json 2>/dev/null
say done
