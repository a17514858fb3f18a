"""The launch scripts print the exact commands they run; with --dry-run they run none of them."""

import os
import signal
import subprocess
import time

from tests.e2e import REPO


def launch(*args, env=None) -> list[str]:
    """The `+ ` lines the script prints. A `gcloud` on PATH that fails proves none is run."""
    done = subprocess.run(
        ["bash", *args], cwd=REPO, capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    return [line[2:] for line in done.stdout.splitlines() if line.startswith("+ ")]


def fake_gcloud_env(tmp_path) -> dict:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gcloud").write_text(f"#!/bin/sh\ntouch {tmp_path}/gcloud_ran\nexit 1\n")
    (bin_dir / "gcloud").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def test_tpu_vm_creates_installs_runs_on_every_worker_and_deletes(tmp_path):
    env = fake_gcloud_env(tmp_path)
    tpu = ["launch/tpu_vm.sh", "--dry-run", "--zone", "europe-west4-a"]
    where = "--zone=europe-west4-a"
    assert launch(*tpu, "create", "ser", env=env) == [
        f"gcloud compute tpus tpu-vm create ser {where} --accelerator-type=v4-32 "
        "--version=tpu-ubuntu2204-base"
    ]
    assert launch(
        *tpu, "--queued", "--spot", "--accelerator", "v5litepod-16", "--version",
        "v2-alpha-tpuv5-lite", "--project", "lab", "create", "ser", env=env,
    ) == [
        f"gcloud compute tpus queued-resources create ser --node-id=ser {where} --project=lab "
        "--accelerator-type=v5litepod-16 --runtime-version=v2-alpha-tpuv5-lite --spot"
    ]

    pack, scp, setup = launch(*tpu, "install", "ser", env=env)
    assert pack.startswith(f"git -C {REPO} ls-files -z --cached --others --exclude-standard | ")
    archive = pack.split("tar czf ")[1].split()[0]
    assert scp == (
        f"gcloud compute tpus tpu-vm scp {archive} ser:jax_ser.tar.gz --worker=all {where}"
    )
    assert setup.startswith(f"gcloud compute tpus tpu-vm ssh ser --worker=all {where} --command ")
    assert "tar xzf jax_ser.tar.gz -C jax_ser" in setup
    jax_version = next(
        line.split("==")[1]
        for line in (REPO / "requirements.txt").read_text().splitlines()
        if line.startswith("jax==")
    )
    assert "-r requirements.txt" in setup and f"jax[tpu]=={jax_version}" in setup

    assert launch(
        *tpu, "run", "ser", "configs/resnet18_mel.py", "/mnt/runs/a", "--config.data.root=/d/R",
        "--config.train.batch_size=256", env=env,
    ) == [
        f"gcloud compute tpus tpu-vm ssh ser --worker=all {where} --command 'cd jax_ser && "
        ".venv/bin/python -m jax_ser.main --config configs/resnet18_mel.py --workdir /mnt/runs/a "
        "--config.data.root=/d/R --config.train.batch_size=256'"
    ]
    assert launch(*tpu, "delete", "ser", env=env) == [
        f"gcloud compute tpus tpu-vm delete ser {where} --quiet"
    ]
    assert launch(*tpu, "--queued", "delete", "ser", env=env) == [
        f"gcloud compute tpus queued-resources delete ser {where} --force --quiet"
    ]
    assert not (tmp_path / "gcloud_ran").exists()
    assert not list(tmp_path.glob("**/jax_ser_ser.tar.gz"))


def test_multi_gpu_runs_one_process_on_all_gpus_or_splits_them():
    train = (
        "python -m jax_ser.main --config configs/resnet18_mel.py --workdir runs/g --config.seed=2"
    )
    args = ["configs/resnet18_mel.py", "runs/g", "--config.seed=2"]
    assert launch("launch/multi_gpu.sh", "--dry-run", "--gpus", "0,1,2,3", *args) == [
        f"CUDA_VISIBLE_DEVICES=0,1,2,3 {train}"
    ]
    lines = launch(
        "launch/multi_gpu.sh", "--dry-run", "--gpus", "0,1,2,3", "--processes", "2", *args
    )
    assert lines == [
        f"CUDA_VISIBLE_DEVICES={gpus} JAX_COORDINATOR_ADDRESS=localhost:8476 JAX_NUM_PROCESSES=2 "
        f"JAX_PROCESS_ID={k} {train} > runs/g.process{k}.log 2>&1 &"
        for k, gpus in enumerate(("0,1", "2,3"))
    ]
    assert not (REPO / "runs" / "g").exists()


def test_multi_gpu_passes_sigterm_on_and_waits_for_the_processes_to_save(tmp_path):
    """Stand-in trainers that take a second to 'save' after SIGTERM, then exit 143 as a run does."""
    trainer = tmp_path / "trainer"
    trainer.write_text(
        "#!/usr/bin/env bash\n"
        "trap 'sleep 1; echo saved; exit 143' TERM\n"
        "echo started\n"
        "while true; do sleep 0.1; done\n"
    )
    trainer.chmod(0o755)
    workdir = tmp_path / "run"
    proc = subprocess.Popen(
        ["bash", "launch/multi_gpu.sh", "--gpus", "0,1", "--processes", "2", "c.py", str(workdir)],
        cwd=REPO,
        env={**os.environ, "PYTHON": str(trainer)},
        stdout=subprocess.DEVNULL,
    )
    logs = [tmp_path / f"run.process{k}.log" for k in range(2)]
    deadline = time.time() + 30
    while time.time() < deadline and not all(
        log.exists() and "started" in log.read_text() for log in logs
    ):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 143
    assert all(log.read_text().split() == ["started", "saved"] for log in logs)


def test_ablation_cells_go_round_robin_over_the_hosts():
    lines = launch(
        "launch/ablate_hosts.sh", "--dry-run", "--hosts", "h1,h2,h3", "--num-cells", "5",
        "--python", ".venv/bin/python", "configs/ablations/lr.py", "/nfs/abl",
        "--config.data.root=/data/R",
    )
    assert lines == [
        f"ssh {host} 'cd jax_ser && .venv/bin/python -m jax_ser.ablate --config "
        f"configs/ablations/lr.py --workdir /nfs/abl --cells={cells} --config.data.root=/data/R' "
        f"> /nfs/abl.{host}.log 2>&1 &"
        for host, cells in (("h1", "0,3"), ("h2", "1,4"), ("h3", "2"))
    ]
    idle = launch(
        "launch/ablate_hosts.sh", "--dry-run", "--hosts", "a,b,c", "--num-cells", "2", "c", "w"
    )
    assert [line.split()[1] for line in idle] == ["a", "b"]  # host c has no cell to run
