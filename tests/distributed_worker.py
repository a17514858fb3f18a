"""A few training steps of a small MLP on random clips, in one process of a (possibly
multi-process, possibly sharded) run; the worker that tests/test_distributed.py starts.

  JAX_COORDINATOR_ADDRESS=localhost:PORT JAX_NUM_PROCESSES=2 JAX_PROCESS_ID=I \
      python -m tests.distributed_worker OUT.json [--fsdp=1,2] [--checkpoint=DIR] [--data_dir=D]

Joins the other processes through jax_ser.main, as a training run does, then writes, from process
0, the losses and validation probabilities of each `fsdp` setting to OUT.json. With --data_dir the
clips come from their prepared TFDS dataset (`prepare_data`), and each process writes the paths
of the records its training batches read to OUT.json.reads<process index>.
"""

import collections.abc
import json
import sys
from pathlib import Path

import jax
import ml_collections
import numpy as np
import soundfile as sf

from jax_ser import main as main_lib
from jax_ser.config import base_config
from jax_ser.data import batches, cache, labels, prepared
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


def prepared_data_config(data_dir) -> ml_collections.ConfigDict:
    """Files read as written: no trimming, no peak normalisation."""
    return ml_collections.ConfigDict(dict(data_dir=str(data_dir), sample_rate=16000,
                                          trim_db=0.0, normalize=False, num_workers=2))


def prepare_data(folder: Path, data_dir: Path) -> None:
    """`data`'s clips as float32 WAV files listed in a manifest, prepared as a TFDS dataset."""
    from jax_ser.data import tfds_builder

    waves, targets = data(int(config().data.clip_seconds * 16000))
    rows = ["path,label,speaker"]
    for i, (wave, target) in enumerate(zip(waves, targets)):
        sf.write(folder / f"{i:03d}.wav", wave, 16000, subtype="FLOAT")
        rows.append(f"{i:03d}.wav,{labels.VOCABULARY[target]},s{i % 4}")
    (folder / "clips.csv").write_text("\n".join(rows) + "\n")
    tfds_builder.prepare("manifest", str(folder / "clips.csv"), prepared_data_config(data_dir))


def read_prepared(data_dir: str, reads: list):
    """The prepared clips and labels, in `data`'s order; the path of each record read is
    appended to `reads`."""
    config = prepared_data_config(data_dir)
    utterances = prepared.utterances("manifest", config)
    records = prepared.decoded(["manifest"], config).waves

    class Logged(collections.abc.Mapping):
        def __getitem__(self, path):
            reads.append(path)
            return records[path]

        def __iter__(self):
            return iter(records)

        def __len__(self):
            return len(records)

    index = {c: i for i, c in enumerate(labels.VOCABULARY)}
    return (cache.Decoded(Logged(), {}).of(utterances),
            np.array([index[u.label] for u in utterances], np.int32))


def train(c, num_steps: int = NUM_STEPS, data_dir: str = "", reads: list | None = None):
    """(run, state, losses, validation probabilities) of `num_steps` steps, each process feeding
    its own slice of every batch."""
    run = trainer.Trainer(c, steps_per_epoch=num_steps)
    state = run.init()
    waves, targets = read_prepared(data_dir, reads) if data_dir else data(run.clip_samples)
    losses = []
    for batch in batches.train_batches(
        waves,
        targets,
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
    if reads is not None:
        reads.append(None)  # the training batches' reads end here (prefetching may go on)
    return run, state, losses, run.probs(state, waves[:10])


def main(out: str, fsdps: str = "1", checkpoint: str = "", data_dir: str = "") -> None:
    main_lib.init_distributed()  # before anything starts a JAX backend
    results = {"process_count": jax.process_count(), "device_count": jax.device_count()}
    for fsdp in map(int, fsdps.split(",")):
        reads = []
        _, state, losses, probs = train(config(fsdp), data_dir=data_dir, reads=reads)
        if data_dir:
            with open(f"{out}.reads{jax.process_index()}", "w") as f:
                json.dump(reads[:reads.index(None)], f)
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
    main(sys.argv[1], args.get("fsdp", "1"), args.get("checkpoint", ""), args.get("data_dir", ""))
