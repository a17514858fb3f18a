"""How much a speaker-adapted run needs of a speaker: test UA when each test speaker's adaptation
comes from only some of their recordings (the sets below). `python -m jax_ser.adaptation_sets`
runs through here.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from jax_ser.adapt import adabn
from jax_ser.data import load
from jax_ser.evaluate import metrics, tables, trained

log = logging.getLogger(__name__)

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
    members = trained.members(run_dir)  # one, or an ensemble's (train.ensemble_size)
    model = members[0]
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
            waves = decoded.of([test[i] for i in own])
            chosen = pick([test[i].label for i in own], rng)
            if not len(chosen):
                raise ValueError(f"{run_dir}: speaker {speaker} has no recording in set {name}")
            probs[own] = np.mean([
                run.labelled(run.adapt(m.state, [waves[i] for i in chosen]), waves)
                for m in members], axis=0)
        scores[name] = metrics.classification_report(truth, probs, run.class_names)["ua"]
        log.info("%s, statistics from %s: UA %.3f", run_dir.name, name, scores[name])
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
