"""Stop a run cleanly on SIGTERM, as TPU VM maintenance and spot/preemptible machines send it.

The handler only sets a flag: the training loop checks it between steps, saves the `latest`
checkpoint at the current step, waits for the write, and exits with EXIT_CODE. Running the same
command again resumes at that step.
"""

from __future__ import annotations

import contextlib
import signal
import threading

import jax
import numpy as np
from jax.experimental import multihost_utils

EXIT_CODE = 143  # 128 + SIGTERM: what shells and schedulers report for a job ended by SIGTERM


class Preempted(SystemExit):
    """The run saved its state after SIGTERM; exits with EXIT_CODE unless caught."""

    def __init__(self, step: int):
        super().__init__(EXIT_CODE)
        self.step = step


class StopRequest:
    """Whether SIGTERM arrived. Call it at the same steps on every process: in a multi-process run
    all of them then stop at the step where any one of them was signalled."""

    def __init__(self):
        self.received = False

    def handle(self, signum, frame) -> None:
        self.received = True

    def __call__(self) -> bool:
        if jax.process_count() == 1:
            return self.received
        return bool(np.any(multihost_utils.process_allgather(np.array(self.received))))


@contextlib.contextmanager
def on_sigterm():
    """A StopRequest that SIGTERM sets while the block runs; the previous handler afterwards.
    Signals reach only the main thread, so a run in another thread installs nothing."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = signal.signal(signal.SIGTERM, stop.handle)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
