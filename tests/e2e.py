"""Helpers of the end-to-end tests: the tiny config pointed at a corpus, and the command line."""

import os
import subprocess
import sys
import time
from pathlib import Path

from tests import tiny_config

REPO = Path(__file__).resolve().parents[1]
CHANCE_UA = 1 / 8


def tiny(corpus, **overrides):
    config = tiny_config.get_config()
    config.data.corpus = "ravdess"
    config.data.root = str(corpus)
    for key, value in overrides.items():
        section, field = key.split(".")
        config[section][field] = value
    return config


def cli_args(corpus, workdir, *extra):
    return [
        sys.executable,
        "-m",
        "jax_ser.main",
        "--config",
        str(REPO / "tests" / "tiny_config.py"),
        "--workdir",
        str(workdir),
        "--config.data.corpus=ravdess",
        f"--config.data.root={corpus}",
        "--config.train.progress_bar=False",
        *extra,
    ]


def run_cli(args, env=None, timeout=300):
    return subprocess.run(
        args,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def wait_for_checkpoint(proc, workdir, timeout=240) -> Path:
    """Wait until the run in `proc` has saved its first `latest` checkpoint; returns that folder."""
    latest = Path(workdir) / "checkpoints" / "latest"
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if latest.is_dir() and any(p.name.isdigit() for p in latest.iterdir()):
            break
        time.sleep(0.02)
    return latest
