#!/usr/bin/env bash
# Train one config on several GPUs of this machine. By default one process sees them all and
# splits every batch over them. --processes N starts N processes instead, each with its share of
# the GPUs, joined by jax.distributed through the variables jax_ser.main reads:
# JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID.
#
#   launch/multi_gpu.sh [--dry-run] [--gpus 0,1,2,3] [--processes N] [--port 8476] \
#       CONFIG WORKDIR [--config.x=y ...]
#
# Without --gpus, every GPU nvidia-smi lists. Process K logs to WORKDIR.processK.log. SIGTERM (a
# spot instance reclaimed) reaches every process: the run saves its checkpoint and exits with
# 143, and the same command resumes it. --dry-run prints the commands.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
gpus="" processes=1 port=8476
while [[ $# -gt 0 && $1 == --* && $1 != --config.* ]]; do
  case $1 in
    --dry-run) dry_run=1; shift ;;
    --gpus) gpus=$2; shift 2 ;;
    --processes) processes=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if [[ $# -lt 2 ]]; then
  sed -n '2,12p' "$0" >&2
  exit 2
fi
config=$1 workdir=$2
shift 2
if [[ -z $gpus ]]; then
  if ! command -v nvidia-smi > /dev/null; then
    echo "nvidia-smi not found: pass --gpus 0,1,..." >&2
    exit 2
  fi
  gpus=$(nvidia-smi --query-gpu=index --format=csv,noheader | paste -sd, -)
fi
IFS=, read -ra gpu_list <<< "$gpus"
if (( processes < 1 || ${#gpu_list[@]} % processes )); then
  echo "--processes $processes must divide the ${#gpu_list[@]} GPUs $gpus" >&2
  exit 2
fi
train=("${PYTHON:-python}" -m jax_ser.main --config "$config" --workdir "$workdir" "$@")

if (( processes == 1 )); then
  echo "+ $(quote CUDA_VISIBLE_DEVICES="$gpus" "${train[@]}")"
  [[ $dry_run == 1 ]] || CUDA_VISIBLE_DEVICES=$gpus exec "${train[@]}"
  exit 0
fi

share=$(( ${#gpu_list[@]} / processes ))
pids=()
for (( k = 0; k < processes; k++ )); do
  env=(
    CUDA_VISIBLE_DEVICES="$(IFS=,; echo "${gpu_list[*]:k*share:share}")"
    JAX_COORDINATOR_ADDRESS="localhost:$port" JAX_NUM_PROCESSES="$processes" JAX_PROCESS_ID="$k"
  )
  echo "+ $(quote "${env[@]}" "${train[@]}") > $(quote "$workdir.process$k.log") 2>&1 &"
  if [[ $dry_run == 0 ]]; then
    mkdir -p "$(dirname "$workdir")"
    env "${env[@]}" "${train[@]}" > "$workdir.process$k.log" 2>&1 &
    pids+=($!)
  fi
done
[[ $dry_run == 0 ]] || exit 0
trap 'kill -TERM "${pids[@]}" 2> /dev/null || true' TERM INT
status=0
for pid in "${pids[@]}"; do
  rc=0
  wait "$pid" || rc=$?
  while kill -0 "$pid" 2> /dev/null; do  # the trap ended the wait: the process is still saving
    rc=0
    wait "$pid" || rc=$?
  done
  (( rc == 0 )) || status=$rc
done
exit "$status"
