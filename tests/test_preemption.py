"""An interrupted run resumes to the uninterrupted run's results: after SIGTERM, which saves a
checkpoint at the current step and exits 143, and after SIGKILL. Every process of a multi-process
run stops at the same step, and checkpoints are written in the background."""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading

import jax.numpy as jnp
import numpy as np
import pytest

from jax_ser.train import checkpoints, preemption
from tests.e2e import REPO, run_cli, wait_for_checkpoint

# A small MLP keeps each of the end-to-end tests' runs to seconds of training.
MLP_OVERRIDES = (
    "--config.data.corpus=ravdess",
    "--config.data.clip_seconds=1.5",
    "--config.data.fold_size=2",
    "--config.data.val_speakers=1",
    "--config.train.batch_size=16",
    "--config.train.num_epochs=6",
    "--config.train.checkpoint_every_steps=5",
    "--config.train.progress_bar=False",
)


def mlp_args(corpus, workdir) -> list[str]:
    return [
        sys.executable,
        "-m",
        "jax_ser.main",
        "--config",
        str(REPO / "configs" / "mlp_pooled.py"),
        "--workdir",
        str(workdir),
        f"--config.data.root={corpus}",
        *MLP_OVERRIDES,
    ]


def predicted_probs(workdir) -> np.ndarray:
    lines = (workdir / "predictions_test.jsonl").read_text().splitlines()
    return np.array([list(json.loads(line)["probs"].values()) for line in lines])


@pytest.fixture(scope="module")
def reference(tiny_corpus, tmp_path_factory):
    """The uninterrupted run, and the persistent compilation cache the interrupted runs share."""
    root = tmp_path_factory.mktemp("interrupted")
    cache = {
        "JAX_COMPILATION_CACHE_DIR": str(root / "jax_cache"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }
    done = run_cli(mlp_args(tiny_corpus, root / "reference"), env=cache)
    assert done.returncode == 0, done.stderr[-3000:]
    return root / "reference", cache


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_interrupted_run_resumes_to_the_uninterrupted_results(sig, reference, tiny_corpus,
                                                              tmp_path):
    """SIGTERM (preemption) saves at the current step and exits 143; SIGKILL (a crash) loses the
    steps since the last checkpoint. Either way the same command resumes to the same results."""
    reference_dir, cache = reference
    want_metrics = json.loads((reference_dir / "metrics.json").read_text())
    last_step = want_metrics["history"][-1]["step"]
    workdir = tmp_path / "interrupted"
    args = mlp_args(tiny_corpus, workdir)
    proc = subprocess.Popen(
        args,
        cwd=REPO,
        env={**os.environ, **cache},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    latest = wait_for_checkpoint(proc, workdir)
    assert proc.poll() is None, "the run ended before the signal"
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert not (workdir / "metrics.json").exists()
    if sig == signal.SIGTERM:
        assert proc.returncode == preemption.EXIT_CODE == 143, stderr[-3000:]
        stopped = int(stderr.split("SIGTERM: stopped at step ")[1].split()[0])
        assert 5 <= stopped < last_step
        assert [p.name for p in latest.iterdir()] == [str(stopped)]  # finished before the exit
    else:
        assert proc.returncode == -signal.SIGKILL

    done = run_cli(args, env=cache)
    assert done.returncode == 0, done.stderr[-3000:]
    resumed_step = int((workdir / "log.txt").read_text().split("resumed from step ")[1].split()[0])
    assert 0 < resumed_step < last_step
    if sig == signal.SIGTERM:
        assert resumed_step == stopped
    resumed = json.loads((workdir / "metrics.json").read_text())
    for got, want in zip(resumed["history"], want_metrics["history"], strict=True):
        assert got["step"] == want["step"]
        np.testing.assert_allclose(got["train_loss"], want["train_loss"], rtol=1e-5)
        np.testing.assert_allclose(got["val_nll"], want["val_nll"], rtol=1e-5)
    assert resumed["test"]["confusion_matrix"] == want_metrics["test"]["confusion_matrix"]
    np.testing.assert_allclose(
        predicted_probs(workdir), predicted_probs(reference_dir), atol=1e-6
    )


def test_sigterm_only_sets_the_flag_inside_the_block():
    previous = signal.getsignal(signal.SIGTERM)
    with preemption.on_sigterm() as stop:
        assert not stop()
        signal.raise_signal(signal.SIGTERM)
        assert stop()
    assert signal.getsignal(signal.SIGTERM) is previous


AGREE = """
import signal, sys
import jax
jax.distributed.initialize(sys.argv[1], num_processes=2, process_id=int(sys.argv[2]))
from jax_ser.train import preemption
with preemption.on_sigterm() as stop:
    before = stop()
    if jax.process_index() == 1:
        signal.raise_signal(signal.SIGTERM)
    print(before, stop())
"""


def test_a_signal_to_one_process_stops_every_process():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        address = f"localhost:{s.getsockname()[1]}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("JAX_COORDINATOR")},
        "JAX_PLATFORMS": "cpu",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", AGREE, address, str(i)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
        # the last line: gloo prints its own; process 0 was not signalled itself
        assert out.splitlines()[-1].split() == ["False", "True"], out


def test_save_returns_while_the_checkpoint_is_still_being_written(tmp_path):
    """The training loop does not wait for the disk: save_latest returns while Orbax still
    finalises the step in a background thread (held here until the test releases it)."""
    ckpts = checkpoints.Checkpoints(tmp_path)
    release, threads = threading.Event(), []
    finalize = ckpts.latest._finalize_checkpoint

    def held_finalize(step):
        threads.append(threading.current_thread())
        release.wait(timeout=60)
        finalize(step)

    ckpts.latest._finalize_checkpoint = held_finalize
    state = {"w": jnp.arange(6.0).reshape(2, 3)}
    ckpts.save_latest(3, state, {"note": "x"})
    assert ckpts.latest.is_saving_in_progress()
    release.set()
    ckpts.wait()
    assert threads and threads[0] is not threading.main_thread()
    assert not ckpts.latest.is_saving_in_progress()
    restored, meta = ckpts.restore_latest(state)
    np.testing.assert_array_equal(restored["w"], state["w"])
    assert meta == {"note": "x"}
    ckpts.close()


def test_a_save_keeps_the_bookkeeping_of_its_step(tmp_path):
    """The loop goes on adding to meta's sums while Orbax writes in the background; the
    checkpoint holds meta as it was at the save, or a resumed run counts steps twice."""
    ckpts = checkpoints.Checkpoints(tmp_path)
    state = {"w": jnp.zeros(3)}
    meta = {"epoch_sums": {"loss": 1.0, "steps": 1}, "history": []}
    ckpts.save_latest(1, state, meta)
    meta["epoch_sums"]["loss"] += 2.0  # the next step, taken while the save is in flight
    meta["epoch_sums"]["steps"] += 1
    meta["history"].append({"epoch": 1})
    ckpts.wait()
    want = {"epoch_sums": {"loss": 1.0, "steps": 1}, "history": []}
    assert ckpts.restore_latest(state)[1] == want
    ckpts.close()


def test_a_finished_runs_best_checkpoint_reads_back_quietly(tmp_path, caplog):
    """Loading a trained model reads `best` without a CheckpointManager, whose read-only mode
    logged three orbax warnings per workdir into every predict and reevaluate."""
    assert checkpoints.read_best(tmp_path, {"w": jnp.zeros(3)}) is None
    ckpts = checkpoints.Checkpoints(tmp_path)
    for step in (1, 2):
        ckpts.save_best(step, {"w": jnp.full(3, float(step))}, {"epoch": step})
    ckpts.wait()
    ckpts.close()
    with caplog.at_level(logging.INFO):
        variables, meta = checkpoints.read_best(tmp_path, {"w": jnp.zeros(3)})
    np.testing.assert_array_equal(variables["w"], [2.0, 2.0, 2.0])
    assert meta == {"epoch": 2}
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
