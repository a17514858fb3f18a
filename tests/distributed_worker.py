"""A few training steps of a small MLP on random clips, in one process of a (possibly
multi-process, possibly sharded) run; the worker that tests/test_distributed.py starts.

  JAX_COORDINATOR_ADDRESS=localhost:PORT JAX_NUM_PROCESSES=2 JAX_PROCESS_ID=I \
      python -m tests.distributed_worker OUT.json [--fsdp=1,2] [--checkpoint=DIR]

Joins the other processes through jax_ser.main, as a training run does, then writes, from process
0, the losses and validation probabilities of each `fsdp` setting to OUT.json.
"""

import json
import sys

import jax
import numpy as np

from jax_ser import main as main_lib
from jax_ser.config import base_config
from jax_ser.data import batches
from jax_ser.train import checkpoints, trainer

NUM_STEPS = 4


def config(fsdp: int = 1):
    c = base_config(model=dict(name="mlp", hidden=(1024,)))  # hidden0 kernel 128 x 1024: sharded
    c.data.clip_seconds = 0.25
    c.train.batch_size = 8
    c.train.schedule, c.train.warmup_epochs = "constant", 0.0
    c.eval.batch_size = 8
    c.train.fsdp = fsdp
    return c


def data(clip_samples: int):
    """Deterministic clips with labels, the same in every process."""
    rng = np.random.default_rng(0)
    waves = [rng.normal(size=clip_samples + 50 * i).astype(np.float32) for i in range(40)]
    return waves, rng.integers(0, 8, len(waves)).astype(np.int32)


def train(c, num_steps: int = NUM_STEPS):
    """(run, state, losses, validation probabilities) of `num_steps` steps, each process feeding
    its own slice of every batch."""
    run = trainer.Trainer(c, steps_per_epoch=num_steps)
    state = run.init()
    waves, labels = data(run.clip_samples)
    losses = []
    for batch in batches.train_batches(
        waves,
        labels,
        global_batch=c.train.batch_size,
        clip_samples=run.clip_samples,
        seed=0,
        epoch=0,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
        grad_accum_steps=c.train.grad_accum_steps,
    ):
        state, m = run.train_step(state, {k: run.to_global(v) for k, v in batch.items()})
        losses.append(float(m["loss"]))
        if len(losses) == num_steps:
            break
    return run, state, losses, run.probs(state, waves[:10])


def main(out: str, fsdps: str = "1", checkpoint: str = "") -> None:
    main_lib.init_distributed()  # before anything starts a JAX backend
    results = {"process_count": jax.process_count(), "device_count": jax.device_count()}
    for fsdp in map(int, fsdps.split(",")):
        _, state, losses, probs = train(config(fsdp))
        kernel = state.params["hidden0"]["kernel"]
        results[fsdp] = {
            "losses": losses,
            "probs": probs.tolist(),
            "kernel_spec": list(kernel.sharding.spec),
            "kernel_shard_shape": list(kernel.addressable_shards[0].data.shape),
            "adam_mu_spec": list(state.opt_state[-1][0].mu["hidden0"]["kernel"].sharding.spec),
        }
        if checkpoint:  # restored onto the sharding of the template
            ckpts = checkpoints.Checkpoints(f"{checkpoint}/fsdp{fsdp}")
            ckpts.save_latest(NUM_STEPS, state, {})
            ckpts.wait()
            restored, _ = ckpts.restore_latest(state)
            ckpts.close()
            same = jax.tree.map(lambda a, b: bool((a == b).all()), restored, state)
            results[fsdp]["restored_equal"] = all(jax.tree.leaves(same))
            results[fsdp]["restored_spec"] = list(
                restored.params["hidden0"]["kernel"].sharding.spec
            )
    if jax.process_index() == 0:
        with open(out, "w") as f:
            json.dump(results, f)


if __name__ == "__main__":
    args = dict(a.lstrip("-").split("=", 1) for a in sys.argv[2:])
    main(sys.argv[1], args.get("fsdp", "1"), args.get("checkpoint", ""))
