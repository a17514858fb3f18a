"""How much a speaker-adapted model needs of a speaker: test UA when the speaker statistics come
from only some of their recordings.

  python -m jax_ser.adaptation_sets --workdir runs/ravdess_best [--seed 0]

A model with features.normalize=speaker or adapt.bn_statistics=speaker takes each test
speaker's statistics from all of their test recordings: on RAVDESS, 60 recordings covering every
emotion. A user may have fewer, or mostly one emotion. For each finished run in the workdir (a
run, or a cross_validate folder of them) and each set below, every test speaker's statistics
(feature and BatchNorm) come from that set of their recordings, and all of their recordings are
then labelled with them:
  all                  every test recording of the speaker (the run's own evaluation)
  half, 10             a random half of them, 10 of them
  neutral+calm+sad     only their recordings of these low-arousal classes
  other emotions       only the rest
The table is written to adaptation_sets.md in the workdir.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from absl import app, flags, logging

from jax_ser.adapt import adabn
from jax_ser.data import batches, load
from jax_ser.errors import DataError
from jax_ser.evaluate import metrics, tables, trained

LOW_AROUSAL = {"neutral", "calm", "sad", "boredom"}
SETS = {
    "all": lambda labels, rng: np.arange(len(labels)),
    "half": lambda labels, rng: np.sort(rng.choice(len(labels), len(labels) // 2, replace=False)),
    "10": lambda labels, rng: np.sort(rng.choice(len(labels), min(10, len(labels)),
                                                 replace=False)),
    "neutral+calm+sad": lambda labels, rng: np.flatnonzero([x in LOW_AROUSAL for x in labels]),
    "other emotions": lambda labels, rng: np.flatnonzero([x not in LOW_AROUSAL for x in labels]),
}


def set_scores(run_dir: Path, seed: int = 0) -> dict[str, float]:
    """{set: test UA} of one run, each test speaker adapted to that set of their recordings."""
    model = trained.Trained(run_dir)
    if not model.needs_speaker:
        raise ValueError(f"{run_dir} does not adapt to the speaker (features.normalize="
                         f"{model.config.features.normalize}, adapt.bn_statistics="
                         f"{model.config.adapt.bn_statistics})")
    run = model.runner
    _, parts, decoded = load.load_data(model.config)
    test = parts["test"]
    index = {c: i for i, c in enumerate(run.class_names)}
    truth = np.array([index[u.label] for u in test])
    groups = adabn.speaker_groups([u.speaker_key for u in test])
    scores = {}
    for name, pick in SETS.items():
        rng = np.random.default_rng(seed)
        probs = np.zeros((len(test), len(run.class_names)), np.float32)
        for speaker in sorted(groups):
            own = groups[speaker]
            waves = [decoded.waves[test[i].path] for i in own]
            chosen = pick([test[i].label for i in own], rng)
            if not len(chosen):
                raise ValueError(f"{run_dir}: speaker {speaker} has no recording in set {name}")
            adapted = run.adapt(model.state, [waves[i] for i in chosen])
            probs[own] = run.labelled(adapted, waves)
        scores[name] = metrics.classification_report(truth, probs, run.class_names)["ua"]
        logging.info("%s, statistics from %s: UA %.3f", run_dir.name, name, scores[name])
    return scores


def write_table(rows: dict[str, dict[str, float]], workdir: Path) -> str:
    """adaptation_sets.md: a row per set, mean ± std of UA over the runs, and each run's."""
    names = list(rows)
    lines = ["| speaker statistics from | UA, mean ± std | " + " | ".join(names) + " |",
             "|---|---:|" + "---:|" * len(names)]
    for s in SETS:
        values = [rows[n][s] for n in names]
        lines.append(f"| {s} | {tables.mean_std(values)} | "
                     + " | ".join(f"{v:.3f}" for v in values) + " |")
    table = "\n".join(lines) + "\n"
    (workdir / "adaptation_sets.md").write_text(table)
    return table


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    workdir = Path(flags.FLAGS.workdir)
    dirs = tables.run_dirs(workdir)
    if not dirs:
        print(f"error: no finished run in {workdir}", file=sys.stderr)
        return 2
    batches.hide_gpus_from_tf()
    try:
        rows = {d.name: set_scores(d, flags.FLAGS.seed) for d in dirs}
    except (ValueError, FileNotFoundError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(write_table(rows, workdir))
    return 0


def define_flags():
    """Command-line flags, defined only when run as a program, so the module imports cleanly."""
    flags.DEFINE_string("workdir", None, "A finished run, or a cross_validate folder of them.")
    flags.DEFINE_integer("seed", 0, "Seed of the random sets (half, 10).")
    flags.mark_flags_as_required(["workdir"])


if __name__ == "__main__":
    define_flags()
    app.run(main)
