#!/usr/bin/env bash
# Run the folds of a speaker-independent cross-validation side by side, one process per GPU,
# then write the mean ± std table. Each fold is an ordinary resumable run in WORKDIR/fold<K>_seed<S>.
#
#   launch/cross_validate_parallel.sh [--dry-run] [--gpus 0,1,2,3] [--folds 0,1,2,3,4] \
#       CONFIG WORKDIR [--config.x=y ...]
#
# Without --gpus the folds run one after another on this machine. --dry-run prints the commands.
set -euo pipefail
dry_run=0 gpus="" folds=""
while [[ $# -gt 0 && $1 == --* && $1 != --config.* ]]; do
  case $1 in
    --dry-run) dry_run=1; shift ;;
    --gpus) gpus=$2; shift 2 ;;
    --folds) folds=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if [[ $# -lt 2 ]]; then
  sed -n '2,8p' "$0" >&2
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
from jax_ser import splits, train
config_flags.DEFINE_config_file("config", None, "")
flags.FLAGS(["x", f"--config={sys.argv[1]}", *sys.argv[2:]])
c = flags.FLAGS.config
print(",".join(str(k) for k in range(len(splits.speaker_folds(train.read_utterances(c), c.data.fold_size)))))
PY
)
fi
echo "folds: $folds"

run() {  # prints the command, then runs it unless --dry-run
  echo "+ $*"
  [[ $dry_run == 1 ]] || "$@"
}

IFS=, read -ra fold_list <<< "$folds"
if [[ -n $gpus ]]; then
  IFS=, read -ra gpu_list <<< "$gpus"
  pids=()
  for i in "${!fold_list[@]}"; do
    gpu=${gpu_list[$(( i % ${#gpu_list[@]} ))]}
    if [[ $i -ge ${#gpu_list[@]} ]]; then  # more folds than GPUs: wait for a slot
      [[ $dry_run == 1 ]] || wait "${pids[$(( i - ${#gpu_list[@]} ))]}"
    fi
    echo "+ CUDA_VISIBLE_DEVICES=$gpu $python -m jax_ser.cross_validate --config $config --workdir $workdir --folds=${fold_list[$i]} $* > $workdir.fold${fold_list[$i]}.log 2>&1 &"
    if [[ $dry_run == 0 ]]; then
      mkdir -p "$(dirname "$workdir")"
      CUDA_VISIBLE_DEVICES=$gpu $python -m jax_ser.cross_validate --config "$config" \
        --workdir "$workdir" --folds="${fold_list[$i]}" "$@" > "$workdir.fold${fold_list[$i]}.log" 2>&1 &
      pids+=($!)
    fi
  done
  [[ $dry_run == 1 ]] || wait
fi
# Runs every fold not finished yet, and writes summary.md / summary.csv over all of them.
run "$python" -m jax_ser.cross_validate --config "$config" --workdir "$workdir" --folds="$folds" "$@"
