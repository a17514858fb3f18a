"""One training run, top to bottom: data, model, init or resume, epochs of jitted steps, evaluation.

Everything the run produces goes to `workdir`: config.json, log.txt, checkpoints/, tensorboard/,
metrics.json and confusion-matrix PNGs. Running again on the same workdir resumes from the latest
checkpoint. Features are computed from waveforms inside the jitted step, on the accelerator; the
batch is sharded over every device of a `data` mesh axis, and the model state is replicated (or
split over an `fsdp` axis).
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from pathlib import Path

import jax
import ml_collections
import numpy as np
import tqdm

from jax_ser.adapt import speaker_norm
from jax_ser.config import check
from jax_ser.config import workdir as workdir_lib
from jax_ser.data import batches, labels, load
from jax_ser.errors import ConfigError
from jax_ser.evaluate import metrics, report
from jax_ser.frontend import augment
from jax_ser.train import checkpoints, ema, preemption
from jax_ser.train.state import TrainState
from jax_ser.train.trainer import Trainer

log = logging.getLogger(__name__)


def resize_for_step(train_config, step: int, steps_per_epoch: int) -> tuple[float, float] | None:
    """The train.progressive_resizing scales of the epoch that `step` falls in (None: full size).
    A function of the step alone, so a run resumed from a checkpoint, mid-epoch too, goes on at
    the size it stopped at."""
    return augment.resize_stage(train_config.progressive_resizing, step // steps_per_epoch)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    _log_to_file(workdir / "log.txt")
    check.validate(config)
    workdir_lib.save_or_check_config(config, workdir)
    batches.hide_gpus_from_tf()
    t_start = time.time()

    split, parts, decoded = load.load_data(config)
    class_names = labels.task_classes(config.data.task)
    index = {c: i for i, c in enumerate(class_names)}
    waves = {k: decoded.of(v) for k, v in parts.items()}  # read when batched
    targets = {k: np.array([index[u.label] for u in v], np.int32) for k, v in parts.items()}
    for name, part in parts.items():
        speakers = sorted({u.speaker_key for u in part})
        log.info(
            "%s: %d utterances, %d speakers %s",
            name,
            len(part),
            len(speakers),
            " ".join(speakers) if len(speakers) <= 12 else "",
        )
    if config.model.name == "classical":
        return fit_classical(config, workdir, split, parts, decoded, targets, t_start)
    speaker_keys = {k: [u.speaker_key for u in v] for k, v in parts.items()}
    train_speakers = (np.unique(speaker_keys["train"], return_inverse=True)[1]
                      if config.train.speaker_batches else None)

    tc = config.train
    micro_batch = tc.batch_size // tc.grad_accum_steps
    if micro_batch % jax.process_count() or micro_batch % jax.device_count():
        raise ConfigError(
            f"config.train.batch_size={tc.batch_size} / config.train.grad_accum_steps="
            f"{tc.grad_accum_steps} must divide over {jax.device_count()} devices"
        )
    # train steps: one per micro-batch, so K per optimizer update with gradient accumulation
    steps_per_epoch = max(1, len(waves["train"]) // tc.batch_size) * tc.grad_accum_steps
    counts = np.bincount(targets["train"], minlength=len(class_names)).astype(np.float32)
    class_weights = (
        counts.sum() / np.maximum(counts, 1) / np.count_nonzero(counts)
        if tc.class_weights
        else None
    )
    run = Trainer(config, steps_per_epoch=steps_per_epoch, class_weights=class_weights)
    # training standardises each of its speakers' features over their own recordings
    train_stats = speaker_norm.training_statistics(config, parts["train"], waves["train"],
                                                   run.feature_config, run.clip_samples)

    def probs_of(state, name: str) -> np.ndarray:
        """Class probabilities of the utterances of one part (train, val, test), each speaker's
        with the run's adaptation to them."""
        return run.probs(state, waves[name], speakers=speaker_keys[name])

    state = run.init()
    num_params = int(sum(x.size for x in jax.tree.leaves(state.params))) // tc.ensemble_size
    log.info(
        "model %s (init %s%s): %s parameters%s; %d steps per epoch of %d",
        config.model.name,
        config.model.init,
        f" from {config.model.checkpoint}" if config.model.init == "pretrained" else "",
        f"{num_params:,}",
        f" x {tc.ensemble_size} members, seeds {run.seeds[0]}-{run.seeds[-1]}"
        if tc.ensemble_size > 1 else "",
        steps_per_epoch,
        micro_batch,
    )

    ckpts = checkpoints.Checkpoints(workdir / "checkpoints")
    meta = {
        "history": [],
        "best_score": None,
        "best_epoch": None,
        "epochs_since_best": 0,
        "stopped_early": False,
        "nan_streak": 0,
        "epoch_sums": {},
    }
    restored = ckpts.restore_latest(state)
    if restored is not None:
        state, meta = restored
        log.info("resumed from step %d of %s", int(state.step), workdir / "checkpoints")

    writer = _summary_writer(workdir / "tensorboard")
    show_bar = tc.progress_bar and jax.process_index() == 0 and sys.stderr.isatty()
    total_steps = tc.num_epochs * steps_per_epoch
    with preemption.on_sigterm() as stop:  # SIGTERM: save `latest` between steps, exit
        resize = "unknown"  # train.progressive_resizing's scales of the epoch; None: full size
        while int(state.step) < total_steps and not meta["stopped_early"]:
            epoch, first = divmod(int(state.step), steps_per_epoch)
            t_epoch = time.time()
            previous, resize = resize, resize_for_step(tc, int(state.step), steps_per_epoch)
            if resize != previous and tc.progressive_resizing:
                size = "full size" if resize is None else "{:g} x {:g} of the frames x channels"
                log.info(
                    "epoch %d on: training feature maps at %s (train.progressive_resizing)",
                    epoch + 1,
                    size.format(*resize or ()),
                )
            state = _train_epoch(run, state, meta, waves["train"],
                                 targets["train"], train_stats, train_speakers, config, epoch=epoch,
                                 first=first, resize=resize, ckpts=ckpts, stop=stop,
                                 show_bar=show_bar)
            sums = meta["epoch_sums"]
            record = {
                "epoch": epoch + 1,
                "step": int(state.step),
                "train_loss": sums["loss"] / sums["steps"] if sums["steps"] else None,
                "train_accuracy": sums["accuracy"] / sums["steps"] if sums["steps"] else None,
                "learning_rate": float(run.schedule(int(state.step))),
                "epoch_time_s": round(time.time() - t_epoch, 2),
            }
            improved = _select_epoch(run, state, meta, record, targets["val"],
                                     lambda s: probs_of(s, "val"), config, ckpts)
            ckpts.save_latest(int(state.step), state, meta)
            _log_epoch(record, tc.num_epochs, improved)
            _write_summaries(writer, record)
            if stop():
                _exit_preempted(ckpts, int(state.step), total_steps)

    ckpts.wait()
    best, _ = checkpoints.read_best(
        workdir / "checkpoints", {"params": state.params, "model_state": state.model_state}
    )
    state = state.replace(params=best["params"], model_state=best["model_state"])
    results = {
        "best_epoch": meta["best_epoch"],
        "epochs_run": len(meta["history"]),
        "stopped_early": meta["stopped_early"],
        "history": meta["history"],
    }
    model_info = {"name": config.model.name, "init": config.model.init, "num_params": num_params}
    if tc.ensemble_size > 1:
        model_info.update(ensemble_size=tc.ensemble_size, seeds=run.seeds)
        final_probs = _member_reports(run, state, parts, targets, waves, speaker_keys, results)
    else:
        final_probs = functools.partial(probs_of, state)
    results = report.evaluate_and_write(
        config, workdir, split, parts, targets, decoded, final_probs, results, model_info,
        t_start,
    )
    ckpts.close()
    return results


def train_or_read(config, run_dir: Path, train_fn=None) -> tuple[dict, bool]:
    """A run's results: read back from `run_dir` if it finished there (with this config: a
    ConfigError otherwise), else trained there by `train_fn` (default train_and_evaluate). The
    bool says whether it had finished earlier."""
    finished = Path(run_dir) / "metrics.json"
    if finished.exists():
        workdir_lib.save_or_check_config(config, Path(run_dir))
        return json.loads(finished.read_text()), True
    return (train_fn or train_and_evaluate)(config, run_dir), False


def _member_reports(run, state, parts, targets, waves, speaker_keys, results: dict):
    """An ensemble's members scored one by one on the validation and test parts, in
    results["members"] (seed, UA, WA, macro-F1); returns probs_of(part): the members' mean."""
    probs = {name: [run.runner.probs(m, waves[name], speakers=speaker_keys[name])
                    for m in run.members(state)]
             for name in ("val", "test") if parts[name]}
    results["members"] = []
    for k, seed in enumerate(run.seeds):
        row = {"seed": seed}
        for name, member_probs in probs.items():
            scores = metrics.classification_report(targets[name], member_probs[k],
                                                   run.class_names)
            row[name] = {key: scores[key] for key in ("ua", "wa", "macro_f1")}
        results["members"].append(row)
        log.info("member %d (seed %d): %s", k, seed, ", ".join(
            f"{name} UA {row[name]['ua']:.3f}" for name in probs))
    return lambda name: np.mean(probs[name], axis=0)


def _train_epoch(run, state, meta: dict, waves, targets,
                 speaker_stats, speakers, config, *, epoch: int, first: int, resize, ckpts, stop,
                 show_bar: bool) -> TrainState:
    """Epoch `epoch` from its step `first` on (a resumed run may start mid-epoch): the loss and
    accuracy sums in meta["epoch_sums"], the run stopped after max_nan_steps non-finite losses in
    a row, `latest` saved mid-epoch every checkpoint_every_steps and on SIGTERM. `speakers`:
    each training utterance's speaker number, for batches of one speaker (None: mixed)."""
    tc = config.train
    steps_per_epoch = run.steps_per_epoch
    total_steps = tc.num_epochs * steps_per_epoch
    if first == 0:  # sums over the epoch's finite steps, checkpointed with a mid-epoch save
        meta["epoch_sums"] = {"loss": 0.0, "accuracy": 0.0, "steps": 0}
    sums, recent = meta["epoch_sums"], []
    bar = tqdm.tqdm(
        total=steps_per_epoch,
        initial=first,
        desc=f"epoch {epoch + 1}/{tc.num_epochs}",
        disable=not show_bar,
        leave=False,
        dynamic_ncols=True,
    )
    for batch in batches.train_batches(
        waves,
        targets,
        global_batch=tc.batch_size,
        clip_samples=run.clip_samples,
        seed=config.seed,
        epoch=epoch,
        start_step=first,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
        grad_accum_steps=tc.grad_accum_steps,
        balanced=tc.class_balanced_sampling,
        speakers=speakers,
        speaker_stats=speaker_stats,
        members=run.ensemble_size,
    ):
        state, m = run.train_step(state, {k: run.to_batch(v) for k, v in batch.items()}, resize)
        m = jax.device_get(m)
        meta["nan_streak"] = 0 if m["finite"] else meta["nan_streak"] + 1
        if meta["nan_streak"] >= tc.max_nan_steps:
            raise FloatingPointError(
                f"{meta['nan_streak']} consecutive non-finite losses at step "
                f"{int(state.step)}; lower train.learning_rate or check the input features"
            )
        if m["finite"]:
            sums["loss"] += float(m["loss"])
            sums["accuracy"] += float(m["accuracy"])
            sums["steps"] += 1
            recent = [*recent[-19:], float(m["loss"])]
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(recent) if recent else float('nan'):.3f}")
        step = int(state.step)
        mid_epoch = step % steps_per_epoch  # an epoch's last step saves after validation
        preempted = bool(mid_epoch) and stop()
        periodic = tc.checkpoint_every_steps and step % tc.checkpoint_every_steps == 0
        if mid_epoch and (preempted or periodic):
            ckpts.save_latest(step, state, meta)
        if preempted:
            _exit_preempted(ckpts, step, total_steps)
    bar.close()
    return state


def _select_epoch(run, state, meta: dict, record: dict, targets, val_probs, config,
                  ckpts) -> bool:
    """Scores the epoch's weights (their moving average with train.ema_decay) on the validation
    speakers (`val_probs(state)`: their class probabilities), saves them as `best` when they beat
    every epoch before, and applies early stopping; returns whether they were the best. Without
    validation speakers the last epoch is the best."""
    tc, epoch = config.train, record["epoch"]
    evaluated = ema.averaged(state)  # the weights' moving average with train.ema_decay
    if len(targets):
        val = metrics.classification_report(
            targets, val_probs(evaluated), run.class_names,
        )
        record.update({f"val_{k}": val[k] for k in ("ua", "wa", "macro_f1", "nll")})
        score = val[tc.select_metric]
    else:
        score = float(epoch)  # no validation speakers: the last epoch is the best
    meta["history"].append(record)
    improved = meta["best_score"] is None or score > meta["best_score"]
    if improved:
        meta.update(best_score=score, best_epoch=epoch, epochs_since_best=0)
        ckpts.save_best(
            int(state.step),
            {"params": evaluated.params, "model_state": evaluated.model_state},
            {"epoch": epoch, "score": score},
        )
    else:
        meta["epochs_since_best"] += 1
        if (
            tc.early_stopping_patience
            and meta["epochs_since_best"] >= tc.early_stopping_patience
        ):
            meta["stopped_early"] = True
            log.info(
                "early stopping: no validation gain for %d epochs",
                meta["epochs_since_best"],
            )
    return improved


def fit_classical(config, workdir: Path, split, parts, decoded, targets, t_start: float) -> dict:
    """The scikit-learn path: pooled features of the training part -> fitted pipeline -> the same
    evaluation and outputs as a neural run."""
    from jax_ser.models import classical

    pooled = classical.feature_matrix(decoded.waves, config)
    x = {k: np.stack([pooled[u.path] for u in v]) if v else None for k, v in parts.items()}
    fitted = classical.fit(config, x["train"], targets["train"], workdir)
    results = {"best_epoch": None, "epochs_run": 0, "stopped_early": False, "history": []}
    model_info = {
        "name": "classical",
        "estimator": config.model.estimator,
        "pooled": config.model.pooled,
        "init": "random",
        "num_params": int(x["train"].shape[1]),  # input dimension of the pooled vector
    }
    return report.evaluate_and_write(
        config, workdir, split, parts, targets, decoded, lambda name: fitted.probs_of(x[name]),
        results, model_info, t_start,
    )


def _exit_preempted(ckpts: checkpoints.Checkpoints, step: int, total_steps: int) -> None:
    """After SIGTERM: wait until the asynchronous save of `latest` at `step` is on disk, then exit;
    the machine may go away right after."""
    ckpts.close()
    log.warning(
        "SIGTERM: stopped at step %d of %d, checkpoint saved in %s; run the same command to "
        "resume (exit code %d)",
        step,
        total_steps,
        ckpts.latest.directory,
        preemption.EXIT_CODE,
    )
    raise preemption.Preempted(step)


def _summary_writer(logdir: Path):
    """TensorBoard's writer on process 0; None on the others, and where TensorFlow is not
    installed (the epochs' figures are in metrics.json's history all the same)."""
    if jax.process_index() != 0:
        return None
    if batches.pipeline_library() != "tf.data":
        log.warning("TensorFlow is not installed: no TensorBoard summaries in %s", logdir)
        return None
    import tensorflow as tf

    return tf.summary.create_file_writer(str(logdir))


def _write_summaries(writer, record: dict) -> None:
    if writer is None:
        return
    import tensorflow as tf

    with writer.as_default(step=record["step"]):
        for k, v in record.items():
            if v is not None and k not in ("epoch", "step"):
                tf.summary.scalar(k.replace("_", "/", 1), v)
    writer.flush()


def _log_epoch(record: dict, num_epochs: int, improved: bool) -> None:
    parts = [f"epoch {record['epoch']}/{num_epochs}"]
    if record["train_loss"] is not None:
        parts.append(f"train loss {record['train_loss']:.3f} acc {record['train_accuracy']:.3f}")
    if "val_ua" in record:
        parts.append(
            f"val UA {record['val_ua']:.3f} WA {record['val_wa']:.3f} "
            f"F1 {record['val_macro_f1']:.3f}" + (" *" if improved else "")
        )
    parts.append(f"{record['epoch_time_s']:.1f}s")
    log.info(" | ".join(parts))


def _log_to_file(path: Path) -> None:
    """jax_ser's messages to the console and `path`; other libraries' warnings to `path` too."""
    ours, root = logging.getLogger("jax_ser"), logging.getLogger()
    ours.setLevel(logging.INFO)
    ours.propagate = False
    for logger in (ours, root):
        for h in [h for h in logger.handlers if getattr(h, "jax_ser", False)]:
            logger.removeHandler(h)
            h.close()
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("%(asctime)s %(levelname).1s %(message)s", "%H:%M:%S"))
    file_format = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers = [(ours, console, logging.INFO)]
    if jax.process_index() == 0:  # one writer of the run's log, however many processes
        handlers += [
            (ours, logging.FileHandler(path), logging.INFO),
            (root, logging.FileHandler(path), logging.WARNING),
        ]
    for logger, handler, level in handlers:
        handler.jax_ser = True
        handler.setLevel(level)
        if handler is not console:
            handler.setFormatter(file_format)
        logger.addHandler(handler)


