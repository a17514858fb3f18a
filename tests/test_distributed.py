"""Scaling out gives the single-device numbers: two processes joined by jax.distributed, four
devices with and without parameter sharding, and gradient accumulation over micro-batches."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import ml_collections
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from jax_ser import config as config_lib
from jax_ser import errors
from jax_ser.data import batches
from jax_ser.train import state as state_lib
from jax_ser.train import trainer
from tests import distributed_worker
from tests.distributed_worker import NUM_STEPS
from tests.e2e import REPO

TIMEOUT_S = 240  # a worker that hangs (a lost peer, a deadlocked collective) fails the test


@pytest.fixture(scope="module")
def reference():
    """Losses and validation probabilities of the worker's steps on this process's one device."""
    _, _, losses, probs = distributed_worker.train(distributed_worker.config())
    return losses, probs


def worker_env(devices: int, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COORDINATOR")}
    return {
        **env,
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
        **extra,
    }


def run_workers(envs: list[dict], tmp_path, *args) -> dict:
    """Process 0's results of one worker per environment; their stderr goes to files, as a full
    pipe would stall a worker while its peers wait for it."""
    out = tmp_path / "out.json"
    command = [sys.executable, "-m", "tests.distributed_worker", str(out), *args]
    logs = [tmp_path / f"worker{i}.err" for i in range(len(envs))]
    procs = []
    try:
        for env, log in zip(envs, logs):
            with open(log, "w") as err:
                procs.append(subprocess.Popen(command, cwd=REPO, env=env, stderr=err))
        for p in procs:
            p.wait(timeout=TIMEOUT_S)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log.read_text()[-3000:]
    return json.loads(out.read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_train_like_one(reference, tmp_path):
    """Each process reads its half of every batch from the prepared TFDS dataset and nothing
    else; jax.distributed joins them (gloo collectives on CPU), and the steps and the gathered
    predictions are those of one process with the clips in memory."""
    distributed_worker.prepare_data(tmp_path, tmp_path / "tfds")
    coordinator = {"JAX_COORDINATOR_ADDRESS": f"localhost:{free_port()}", "JAX_NUM_PROCESSES": "2"}
    envs = [worker_env(1, **coordinator, JAX_PROCESS_ID=str(i)) for i in range(2)]
    got = run_workers(envs, tmp_path, f"--data_dir={tmp_path / 'tfds'}")
    assert got["process_count"] == 2 and got["device_count"] == 2
    losses, probs = reference
    np.testing.assert_allclose(got["1"]["losses"], losses, rtol=1e-5)
    np.testing.assert_allclose(got["1"]["probs"], probs, atol=1e-5)
    order = batches.epoch_order(40, 8, seed=0, epoch=0)  # the epoch's global batches
    reads = [{int(Path(p).stem) for p in json.loads((tmp_path / f"out.json.reads{i}").read_text())}
             for i in range(2)]
    for i, own in enumerate(reads):
        assert set(order[:NUM_STEPS, 4 * i:4 * i + 4].ravel()) <= own  # its batches' slices...
        assert own <= set(order[:, 4 * i:4 * i + 4].ravel())  # ... and no other record
    assert not reads[0] & reads[1]


def test_fsdp_shards_the_big_kernel_and_trains_like_one_device(reference, tmp_path):
    """On four devices, data parallel (fsdp=1) and a (2 data, 2 fsdp) mesh both match one device;
    with fsdp=2 the large kernel and its Adam moment are split in two, and a checkpoint restores
    onto that sharding."""
    got = run_workers([worker_env(4)], tmp_path, "--fsdp=1,2", f"--checkpoint={tmp_path / 'ckpt'}")
    assert got["process_count"] == 1 and got["device_count"] == 4
    losses, probs = reference
    for fsdp in ("1", "2"):
        np.testing.assert_allclose(got[fsdp]["losses"], losses, rtol=1e-5, err_msg=fsdp)
        np.testing.assert_allclose(got[fsdp]["probs"], probs, atol=1e-5, err_msg=fsdp)
        assert got[fsdp]["restored_equal"], fsdp
    assert got["1"]["kernel_spec"] == []
    assert got["1"]["kernel_shard_shape"] == [128, 1024]
    assert got["2"]["kernel_spec"] == got["2"]["adam_mu_spec"] == [None, "fsdp"]
    assert got["2"]["restored_spec"] == got["2"]["kernel_spec"]
    assert got["2"]["kernel_shard_shape"] == [128, 512]


def test_fsdp_spec_splits_the_largest_divisible_dimension():
    assert state_lib.fsdp_spec((3, 3, 64, 256), 2) == P(None, None, None, "fsdp")
    assert state_lib.fsdp_spec((1002, 96), 4) == P(None, "fsdp")  # 4 does not divide 1002
    assert state_lib.fsdp_spec((1001, 95), 2) == P()  # nothing divides
    assert state_lib.fsdp_spec((64, 64), 2) == P()  # small: replicated
    assert state_lib.fsdp_spec((1 << 20,), 1) == P()  # data parallel


@pytest.mark.parametrize("asked, batch, accum, cores, devices", [
    (0, 32, 1, 2, 2), (0, 32, 1, 1, 1), (0, 32, 1, 8, 4), (0, 32, 2, 2, 2), (0, 32, 4, 2, 1),
    (0, 12, 1, 2, 1), (0, 24, 1, 5, 3), (3, 32, 1, 2, 3), (1, 32, 1, 8, 1)])
def test_cpu_devices_are_cores_with_8_examples_each(asked, batch, accum, cores, devices):
    """train.cpu_devices=0: one CPU device per core, as many as split a micro-batch evenly with
    at least 8 examples each; a number asks for that many."""
    c = distributed_worker.config()
    c.train.cpu_devices, c.train.batch_size, c.train.grad_accum_steps = asked, batch, accum
    assert state_lib.cpu_devices(c, cores) == devices


def test_cpu_devices_refuses_a_negative_count():
    c = distributed_worker.config()
    c.train.cpu_devices = -1
    with pytest.raises(errors.ConfigError, match="cpu_devices"):
        state_lib.cpu_devices(c)


def test_cpu_devices_once_jax_has_started_are_kept_with_a_warning(monkeypatch, caplog):
    """A caller that ran a JAX operation before use_cpu_devices keeps its devices: a warning,
    not a crash."""
    monkeypatch.delenv("JAX_NUM_CPU_DEVICES", raising=False)
    monkeypatch.setenv("XLA_FLAGS", "")
    c = distributed_worker.config()
    c.train.cpu_devices = 2
    before = jax.device_count()
    state_lib.use_cpu_devices(c)
    assert jax.device_count() == before
    assert "train.cpu_devices=2 not applied" in caplog.text


def accumulation_config(accum: int):
    c = distributed_worker.config()
    with c.unlocked():  # no batch statistics: the micro-batches' mean gradient is the batch's
        c.model = ml_collections.ConfigDict(
            dict(name="bilstm", init="random", hidden=8, num_layers=1, dropout=0.0)
        )
    # SGD: one Adam step moves each weight by +-lr whatever its gradient's size, so float noise
    # in a near-zero gradient would flip it
    c.train.optimizer, c.train.learning_rate = "sgd", 0.1
    c.train.grad_accum_steps = accum
    return c


def test_accumulated_micro_batches_make_the_batch_update():
    """Four micro-batches of 2 give the update of one batch of 8: the parameters stay put for
    three steps, then match the unaccumulated run's after its one step."""
    _, whole, _, _ = distributed_worker.train(accumulation_config(1), num_steps=1)
    run = trainer.Trainer(accumulation_config(4), steps_per_epoch=4)
    state = run.init()
    assert not state.model_state  # batch statistics would differ between micro-batches
    start = jax.device_get(state.params)
    waves, labels = distributed_worker.data(run.clip_samples)
    crops = dict(clip_samples=run.clip_samples, seed=0, epoch=0)
    micro = list(
        batches.train_batches(waves, labels, global_batch=8, grad_accum_steps=4, **crops)
    )[:4]
    batch = next(batches.train_batches(waves, labels, global_batch=8, **crops))
    np.testing.assert_array_equal(np.concatenate([b["wave"] for b in micro]), batch["wave"])
    for i, b in enumerate(micro):
        state, _ = run.train_step(state, {k: run.to_global(v) for k, v in b.items()})
        if i < 3:
            jax.tree.map(np.testing.assert_array_equal, jax.device_get(state.params), start)
    assert int(state.step) == 4 and int(state.opt_state.gradient_step) == 1
    after = jax.device_get(state.params)
    assert not np.allclose(after["classifier"]["kernel"], start["classifier"]["kernel"])
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
        after,
        jax.device_get(whole.params),
    )


def test_accumulation_must_divide_the_batch():
    c = accumulation_config(3)
    with pytest.raises(errors.ConfigError, match="train.grad_accum_steps"):
        config_lib.validate(c)
