"""Finished runs scored again with evaluation-time settings changed (the config's eval and adapt
sections), on the same trained weights. `python -m jax_ser.reevaluate` runs through here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from jax_ser import config as config_lib
from jax_ser.config import workdir as workdir_lib
from jax_ser.data import load
from jax_ser.errors import ConfigError
from jax_ser.evaluate import metrics, report, tables, trained
from jax_ser.evaluate.runner import Runner

EVALUATION_SECTIONS = ("eval", "adapt")  # the schema's evaluation-time sections


def parse_changes(items: list[str]) -> dict:
    """{"section.key": value} from "section.key=value" strings, values as Python literals; the
    key must lie in an evaluation-time section (old names of such keys are read as today's)."""
    schema = config_lib.base_config(model={"name": "cnn"})
    changes = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = workdir_lib.MOVED.get(key, key)
        section, _, field = key.partition(".")
        allowed = section in EVALUATION_SECTIONS or key in workdir_lib.DATA_LOCATION
        if not sep or not allowed or field not in schema[section]:
            known = ", ".join([*(f"{s}.{k}" for s in EVALUATION_SECTIONS for k in schema[s]),
                               *workdir_lib.DATA_LOCATION])
            raise ConfigError(f"--set {item!r}: give KEY=VALUE with KEY one of {known} (the "
                              "others change what was trained)")
        try:
            changes[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            changes[key] = text
    return changes


def rescore(run_dir: Path, changes: dict) -> tuple[dict[str, float], dict[str, dict]]:
    """One run's test part labelled under its config with `changes`: {ua, wa, macro_f1} and
    {path: line} as in predictions_test.jsonl."""
    members = trained.members(run_dir)  # one, or an ensemble's (train.ensemble_size)
    config = members[0].config
    for key, value in changes.items():
        section, field = key.split(".")
        config[section][field] = value
    config_lib.validate(config)
    run = Runner(config)
    fresh = run.init(load_pretrained=False)
    _, parts, decoded = load.load_data(config)
    test = parts["test"]
    waves, speakers = decoded.of(test), [u.speaker_key for u in test]
    probs = np.mean([run.probs(fresh.replace(params=m.state.params,
                                             model_state=m.state.model_state),
                               waves, speakers=speakers)
                     for m in members], axis=0)
    index = {c: i for i, c in enumerate(run.class_names)}
    scores = metrics.classification_report(np.array([index[u.label] for u in test]), probs,
                                           run.class_names)
    lines = {u.path: report.prediction_line(u, p, run.class_names) for u, p in zip(test, probs)}
    return {m: scores[m] for m in tables.METRICS}, lines


def write_table(rows: list[dict], changes: dict, workdir: Path) -> str:
    """reevaluate.md: each run's test scores as trained and with `changes`, then mean ± std."""
    what = ", ".join(f"{k}={v!r}" for k, v in changes.items())
    lines = [f"Test scores as evaluated in training and with {what}", "",
             "| run | UA | WA | macro-F1 | UA, changed | WA, changed | macro-F1, changed |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['run']} | " + " | ".join(
            f"{r[k][m]:.3f}" for k in ("before", "after") for m in tables.METRICS) + " |")
    lines.append(f"| **mean ± std, {len(rows)} runs** | " + " | ".join(
        tables.mean_std([r[k][m] for r in rows])
        for k in ("before", "after") for m in tables.METRICS) + " |")
    table = "\n".join(lines) + "\n"
    (workdir / "reevaluate.md").write_text(table)
    return table
