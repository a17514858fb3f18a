#!/usr/bin/env bash
# Spread the cells of an ablation over hosts reached by ssh, round-robin: with hosts a,b, host a
# runs cells 0,2,4,... and host b cells 1,3,5,..., each as `python -m jax_ser.ablate --cells=...`.
#
#   launch/ablate_hosts.sh [--dry-run] --hosts h1,h2 [--num-cells N] [--remote-dir jax_ser] \
#       [--python python3] CONFIG WORKDIR [--config.x=y ...]
#
# Every host needs the project in --remote-dir (relative to its home) and the data. The cells
# come from `python -m jax_ser.ablate --list_cells` on this machine, or from --num-cells. Each
# host's call tabulates the cells it sees, so with a WORKDIR that every host shares (NFS, a
# mounted bucket) the last one to finish writes the full table. Host H logs to WORKDIR.H.log
# here. --dry-run prints the commands.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
hosts="" num_cells="" remote_dir=jax_ser python=python3
while [[ $# -gt 0 && $1 == --* && $1 != --config.* ]]; do
  case $1 in
    --dry-run) dry_run=1; shift ;;
    --hosts) hosts=$2; shift 2 ;;
    --num-cells) num_cells=$2; shift 2 ;;
    --remote-dir) remote_dir=$2; shift 2 ;;
    --python) python=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if [[ $# -lt 2 || -z $hosts ]]; then
  sed -n '2,11p' "$0" >&2
  exit 2
fi
config=$1 workdir=$2
shift 2
if [[ -z $num_cells ]]; then
  if ! listing=$("${PYTHON:-python}" -m jax_ser.ablate --config "$config" --list_cells "$@"); then
    echo "could not list the cells of $config here: pass --num-cells N" >&2
    exit 2
  fi
  num_cells=$(grep -c . <<< "$listing")
fi

IFS=, read -ra host_list <<< "$hosts"
cells=()
for (( i = 0; i < num_cells; i++ )); do
  h=$(( i % ${#host_list[@]} ))
  cells[h]+="${cells[h]:+,}$i"
done
pids=()
for h in "${!host_list[@]}"; do
  [[ -n ${cells[h]:-} ]] || continue  # more hosts than cells
  host=${host_list[h]}
  ablate="cd $(printf %q "$remote_dir") && $(printf %q "$python") -m jax_ser.ablate"
  ablate+=" --config $(printf %q "$config") --workdir $(printf %q "$workdir") --cells=${cells[h]}"
  for arg in "$@"; do
    ablate+=" $(printf %q "$arg")"
  done
  echo "+ $(quote ssh "$host" "$ablate") > $(quote "$workdir.$host.log") 2>&1 &"
  if [[ $dry_run == 0 ]]; then
    mkdir -p "$(dirname "$workdir")"
    ssh "$host" "$ablate" > "$workdir.$host.log" 2>&1 &
    pids+=($!)
  fi
done
status=0
for pid in "${pids[@]}"; do
  wait "$pid" || status=$?
done
exit "$status"
