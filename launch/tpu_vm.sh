#!/usr/bin/env bash
# Train on a Cloud TPU VM, one host or a pod slice: create it, install this working tree on every
# worker, run a config on all workers at once, delete it.
#
#   launch/tpu_vm.sh [--dry-run] [--zone us-central2-b] [--accelerator v4-32]
#       [--version tpu-ubuntu2204-base] [--project P] [--queued] [--spot] COMMAND NAME [ARGS]
#
#   create NAME                             a TPU VM; --queued: a queued resource that waits for
#                                           capacity, its node also named NAME
#   install NAME                            copy the tracked and untracked, not ignored files to
#                                           ~/jax_ser on every worker; a Python 3.11 venv there
#   run NAME CONFIG WORKDIR [--config.x=y]  python -m jax_ser.main on every worker
#   delete NAME
#
# The workers of a pod slice train one run: jax.distributed finds its peers on a TPU by itself.
# WORKDIR must then be a folder every worker sees (a bucket mounted with gcsfuse, or Filestore),
# since all of them write the checkpoints. Maintenance or a --spot preemption sends SIGTERM: the
# run saves its checkpoint and exits with 143, and `run` again resumes it. The runtime version
# follows the TPU generation: tpu-ubuntu2204-base up to v4, v2-alpha-tpuv5-lite (v5e),
# v2-alpha-tpuv5 (v5p), v2-alpha-tpuv6e (v6e). --dry-run prints the commands.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
zone=${TPU_ZONE:-us-central2-b} accelerator=v4-32 version=tpu-ubuntu2204-base project=""
queued=0 spot=0
while [[ $# -gt 0 && $1 == --* ]]; do
  case $1 in
    --dry-run) dry_run=1; shift ;;
    --zone) zone=$2; shift 2 ;;
    --accelerator) accelerator=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    --project) project=$2; shift 2 ;;
    --queued) queued=1; shift ;;
    --spot) spot=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
usage() {
  sed -n '2,13p' "$0" >&2
  exit 2
}
[[ $# -ge 2 ]] || usage
command=$1 name=$2
shift 2
if [[ $dry_run == 0 ]] && ! command -v gcloud > /dev/null; then
  echo "gcloud not found: install the Google Cloud CLI, or use --dry-run" >&2
  exit 1
fi
where=(--zone="$zone")
[[ -z $project ]] || where+=(--project="$project")
tpu=(gcloud compute tpus tpu-vm)
repo=$(cd "$(dirname "$0")/.." && pwd)

case $command in
  create)
    extra=()
    [[ $spot == 0 ]] || extra+=(--spot)
    if [[ $queued == 1 ]]; then
      run gcloud compute tpus queued-resources create "$name" --node-id="$name" "${where[@]}" \
        --accelerator-type="$accelerator" --runtime-version="$version" "${extra[@]}"
    else
      run "${tpu[@]}" create "$name" "${where[@]}" --accelerator-type="$accelerator" \
        --version="$version" "${extra[@]}"
    fi
    ;;
  install)
    archive=${TMPDIR:-/tmp}/jax_ser_$name.tar.gz
    pack="git -C $(printf %q "$repo") ls-files -z --cached --others --exclude-standard"
    pack+=" | tar czf $(printf %q "$archive") -C $(printf %q "$repo") --null -T -"
    pack+=" --ignore-failed-read"  # a tracked file deleted in the working tree
    echo "+ $pack"
    [[ $dry_run == 1 ]] || bash -c "set -o pipefail; $pack"
    jax_version=$(sed -n 's/^jax==//p' "$repo/requirements.txt")
    setup="mkdir -p jax_ser && tar xzf jax_ser.tar.gz -C jax_ser && cd jax_ser"
    setup+=" && python3 -m pip install -q --user uv && python3 -m uv venv -q --python 3.11 .venv"
    setup+=" && python3 -m uv pip install -q --python .venv/bin/python -r requirements.txt"
    setup+=" 'jax[tpu]==$jax_version'"
    run "${tpu[@]}" scp "$archive" "$name:jax_ser.tar.gz" --worker=all "${where[@]}"
    run "${tpu[@]}" ssh "$name" --worker=all "${where[@]}" --command "$setup"
    ;;
  run)
    [[ $# -ge 2 ]] || usage
    train="cd jax_ser && .venv/bin/python -m jax_ser.main --config $(printf %q "$1")"
    train+=" --workdir $(printf %q "$2")"
    shift 2
    for arg in "$@"; do
      train+=" $(printf %q "$arg")"
    done
    run "${tpu[@]}" ssh "$name" --worker=all "${where[@]}" --command "$train"
    ;;
  delete)
    if [[ $queued == 1 ]]; then  # --force deletes its node too
      run gcloud compute tpus queued-resources delete "$name" "${where[@]}" --force --quiet
    else
      run "${tpu[@]}" delete "$name" "${where[@]}" --quiet
    fi
    ;;
  *) usage ;;
esac
