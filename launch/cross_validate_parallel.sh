#!/usr/bin/env bash
# Run the folds of a speaker-independent cross-validation side by side, one process per GPU,
# then write the mean ± std table. Each fold is an ordinary resumable run in WORKDIR/fold<K>_seed<S>.
#
#   launch/cross_validate_parallel.sh [--dry-run] [--gpus 0,1,2,3] [--per-gpu K] [--folds 0,1,2,3,4] \
#       [--seeds 0,1] CONFIG WORKDIR [--config.x=y ...]
#
# Without --gpus the folds run one after another on this machine. --seeds makes one process per
# fold and seed; --per-gpu K runs K of them at once on each GPU (a small model leaves a big GPU
# mostly idle). --dry-run prints the commands.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
gpus="" per_gpu=1 folds="" seeds=""
while [[ $# -gt 0 && $1 == --* && $1 != --config.* ]]; do
  case $1 in
    --dry-run) dry_run=1; shift ;;
    --gpus) gpus=$2; shift 2 ;;
    --per-gpu) per_gpu=$2; shift 2 ;;
    --folds) folds=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if [[ $# -lt 2 ]]; then
  sed -n '2,10p' "$0" >&2
  exit 2
fi
if ! [[ $per_gpu =~ ^[1-9][0-9]*$ ]]; then
  echo "--per-gpu takes a positive number of processes, not '$per_gpu'" >&2
  exit 2
fi
config=$1 workdir=$2
shift 2
python=${PYTHON:-python}

if [[ -z $folds ]]; then
  folds=$($python - "$config" "$@" <<'PY'
import sys
from absl import flags
from ml_collections import config_flags
from jax_ser.data import load
from jax_ser.train import cross_validation
config_flags.DEFINE_config_file("config", None, "")
flags.FLAGS(["x", f"--config={sys.argv[1]}", *sys.argv[2:]])
c = flags.FLAGS.config
print(",".join(cross_validation.protocol_runs(c, load.read_utterances(c))[1]))
PY
)
fi
echo "folds: $folds"

IFS=, read -ra fold_list <<< "$folds"
IFS=, read -ra seed_list <<< "$seeds"
jobs=()  # "FOLD SEED" (SEED empty without --seeds), one per process
for fold in "${fold_list[@]}"; do
  if [[ -n $seeds ]]; then
    for seed in "${seed_list[@]}"; do jobs+=("$fold $seed"); done
  else
    jobs+=("$fold")
  fi
done
if [[ -n $gpus ]]; then
  IFS=, read -ra gpu_list <<< "$gpus"
  slots=$(( ${#gpu_list[@]} * per_gpu ))
  env=()
  # Each process would otherwise take 75% of its GPU's memory at start.
  [[ $per_gpu -gt 1 ]] && env=(XLA_PYTHON_CLIENT_PREALLOCATE=false)
  pids=()
  for i in "${!jobs[@]}"; do
    gpu=${gpu_list[$(( i % ${#gpu_list[@]} ))]}
    if [[ $i -ge $slots ]]; then  # more processes than slots: wait for the oldest to end
      [[ $dry_run == 1 ]] || wait "${pids[$(( i - slots ))]}"
    fi
    read -r fold seed <<< "${jobs[$i]}"
    job=(--folds="$fold" ${seed:+--seeds=$seed})
    log=$workdir.fold$fold${seed:+_seed$seed}.log
    echo "+ $(quote "${env[@]}" CUDA_VISIBLE_DEVICES="$gpu" "$python" -m jax_ser.cross_validate \
      --config "$config" --workdir "$workdir" "${job[@]}" "$@") > $(quote "$log") 2>&1 &"
    if [[ $dry_run == 0 ]]; then
      mkdir -p "$(dirname "$workdir")"
      env "${env[@]}" CUDA_VISIBLE_DEVICES="$gpu" "$python" -m jax_ser.cross_validate --config "$config" \
        --workdir "$workdir" "${job[@]}" "$@" > "$log" 2>&1 &
      pids+=($!)
    fi
  done
  [[ $dry_run == 1 ]] || wait
fi
# Runs every fold not finished yet, and writes summary.md / summary.csv over all of them.
run "$python" -m jax_ser.cross_validate --config "$config" --workdir "$workdir" --folds="$folds" \
  ${seeds:+--seeds=$seeds} "$@"
