"""Orbax checkpoints of a run: `latest` to resume from, `best` (inference variables) to evaluate.

`latest` holds the whole train state and the loop's bookkeeping (history, early-stopping counters),
so a resumed run continues at the same step with the same optimizer state. `best` holds only what
prediction needs: parameters and batch statistics of the epoch with the best validation score.
Saves are asynchronous; `wait` before reading or exiting.
"""

from __future__ import annotations

import copy
from pathlib import Path

import jax
import orbax.checkpoint as ocp


class Checkpoints:
    def __init__(self, directory: str | Path):
        directory = Path(directory).resolve()
        options = ocp.CheckpointManagerOptions(max_to_keep=1, create=True)
        self.latest = ocp.CheckpointManager(directory / "latest", options=options)
        self.best = ocp.CheckpointManager(directory / "best", options=options)

    def save_latest(self, step: int, state, meta: dict) -> None:
        # Orbax serialises the JSON in its background thread, after the loop has changed `meta`
        meta = copy.deepcopy(meta)
        self.latest.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)
            ),
            force=True,
        )

    def save_best(self, step: int, variables: dict, meta: dict) -> None:
        self.best.save(
            step,
            args=ocp.args.Composite(
                variables=ocp.args.StandardSave(variables), meta=ocp.args.JsonSave(meta)
            ),
            force=True,
        )

    def restore_latest(self, template):
        """(state, meta) of the latest checkpoint, shaped like `template`; None if there is none."""
        step = self.latest.latest_step()
        if step is None:
            return None
        restored = self.latest.restore(step, args=_restore_args("state", template))
        return restored["state"], restored["meta"]

    def wait(self) -> None:
        self.latest.wait_until_finished()
        self.best.wait_until_finished()

    def close(self) -> None:
        self.latest.close()
        self.best.close()


def read_best(directory: str | Path, template):
    """(variables, meta) of a run's best checkpoint, shaped like `template`; None if none. The
    loop reads it after `wait`; jax_ser.load reads finished runs.

    Reads without a CheckpointManager: orbax's read-only manager logs three warnings per load.
    """
    directory = Path(directory).resolve() / "best"
    steps = ocp.utils.checkpoint_steps(directory)
    if not steps:
        return None
    with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as checkpointer:
        restored = checkpointer.restore(
            directory / str(max(steps)), args=_restore_args("variables", template)
        )
    return restored["variables"], restored["meta"]


def _restore_args(name: str, template):
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    return ocp.args.Composite(
        **{name: ocp.args.StandardRestore(abstract), "meta": ocp.args.JsonRestore()}
    )
