"""Cross-corpus evaluation: a train × test matrix of UA, WA and macro-F1, each training set an
ordinary run, each cell kept in its run folder so an interrupted matrix resumes where it stopped.
`python -m jax_ser.cross_corpus` (whose docstring describes the cells) runs through here.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import ml_collections
import numpy as np

from jax_ser import config as config_lib
from jax_ser import errors
from jax_ser.data import batches, corpora, labels, load
from jax_ser.evaluate import metrics, tables, trained
from jax_ser.train import loop

IN_CORPUS = "in-corpus: held-out speakers of the training run's split"
CROSS_CORPUS = "cross-corpus: every utterance"


def parse_train_sets(items) -> list[tuple[str, ...]]:
    """["ravdess", "ravdess+tess"] -> [("ravdess",), ("ravdess", "tess")]."""
    sets = [tuple(n.strip() for n in item.split("+") if n.strip()) for item in items]
    return [s for s in sets if s]


def corpus_roots(config, roots=()) -> dict[str, str]:
    """Corpus name -> root: the config's data.corpus / data.root pairs, then "name=path" items."""
    found = {name: root for name, root in load.corpus_list(config)}
    for item in roots:
        name, sep, path = item.partition("=")
        if not sep or not name.strip():
            raise errors.ConfigError(f"--roots item {item!r} is not name=path")
        found[name.strip()] = path.strip()
    return found


def shared_classes(config, names, roots: dict[str, str], keep=()) -> tuple[str, ...]:
    """The task classes every corpus in `names` has (or `keep`, checked), in VOCABULARY order."""
    task_classes = labels.task_classes(config.data.task)
    per_corpus = {}
    for name in names:
        if name not in corpora.names():
            raise errors.ConfigError(
                f"unknown corpus {name!r}; known: {', '.join(corpora.names())}"
            )
        if not roots.get(name) and name != "synthetic" and config.data.source == "folders":
            raise errors.ConfigError(
                f"no root for corpus {name!r}: pass --roots={name}=/path/to/{name}"
            )
        read = labels.apply_task(load.corpus_utterances(config, name, roots.get(name)),
                                 config.data.task)
        per_corpus[name] = {u.label for u in read}
    wanted = set(keep) if keep else set.intersection(*per_corpus.values())
    lacking = {n: sorted(wanted - have) for n, have in per_corpus.items() if wanted - have}
    if keep and (set(keep) - set(task_classes) or lacking):
        raise errors.ConfigError(
            f"--classes: {', '.join(keep)} must be classes of task {config.data.task} "
            f"({', '.join(task_classes)}) that every corpus has; missing: {lacking}"
        )
    classes = tuple(c for c in task_classes if c in wanted)
    if len(classes) < 2:
        listing = "; ".join(f"{n}: {', '.join(sorted(c))}" for n, c in per_corpus.items())
        raise errors.DataError(
            f"the corpora share fewer than two classes of task {config.data.task} ({listing})"
        )
    return classes


def run_config(config, train_set, roots: dict[str, str], task: str):
    c = config.copy_and_resolve_references()
    paths = [roots.get(n, "") for n in train_set]
    c.data.corpus = ",".join(train_set)
    c.data.root = ",".join(paths) if any(paths) else ""
    c.data.task = task
    return c


def cross_corpus(config, workdir, train_items, test_names, roots=(), classes=()) -> list[dict]:
    """Train every train set (or read it back), test every corpus, write the tables; the cells."""
    workdir = Path(workdir)
    train_sets = parse_train_sets(train_items)
    test_names = [n.strip() for n in test_names if n.strip()]
    if not train_sets or not test_names:
        raise errors.ConfigError("--train and --test each need at least one corpus")
    if config.data.split == "random":
        raise errors.ConfigError(
            "config.data.split=random shares speakers between train and test; cross-corpus "
            "cells on a trained corpus must test held-out speakers (use fold:K, loso:..., final)"
        )
    if config.data.precomputed:
        raise errors.ConfigError(
            "config.data.precomputed: cross-corpus tests decode the test corpora's audio; "
            "train on audio"
        )
    roots = corpus_roots(config, roots)
    names = list(dict.fromkeys([n for s in train_sets for n in s] + test_names))
    kept = shared_classes(config, names, roots, classes)
    base_task = config.data.task.partition(":")[0]
    task = (config.data.task if kept == labels.task_classes(config.data.task)
            else f"{base_task}:{','.join(kept)}")
    configs = {s: run_config(config, s, roots, task) for s in train_sets}
    for c in configs.values():  # every run must be valid before the first one trains
        config_lib.validate(c)
    batches.hide_gpus_from_tf()
    print(f"classes shared by {', '.join(names)}: {', '.join(kept)}", file=sys.stderr)
    cells = []
    for train_set, c in configs.items():
        name = "+".join(train_set)
        run_dir = workdir / f"train_{name}"
        print(f"train {name}", file=sys.stderr)
        results, earlier = loop.train_or_read(c, run_dir)
        if earlier:
            print(f"train {name}: finished earlier, read {run_dir / 'metrics.json'}",
                  file=sys.stderr)
        model = None
        for test in test_names:
            path = run_dir / f"test_{test}.json"
            if path.exists():
                cell = json.loads(path.read_text())
            else:
                if test in train_set:
                    cell = _held_out_cell(run_dir, test, kept, results)
                else:
                    model = model or trained.members(run_dir)
                    cell = _other_corpus_cell(model, c, test, roots, task, kept)
                cell = {"train": name, "test": test, "classes": list(kept), **cell}
                path.write_text(json.dumps(cell, indent=2))
            cells.append(cell)
            write_tables(cells, workdir, config.data.split)
    return cells


def _held_out_cell(run_dir: Path, corpus: str, classes, results: dict) -> dict:
    """The run's own test predictions of `corpus`'s held-out speakers."""
    path = run_dir / "predictions_test.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    lines = [line for line in lines if line["speaker"].startswith(f"{corpus}/")]
    if not lines or not results.get("speaker_independent", False):
        return {"protocol": IN_CORPUS, "n": 0,
                "note": f"split {results['split']} holds out no speaker of {corpus}"}
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[line["label"]] for line in lines])
    probs = np.array([[line["probs"][c] for c in classes] for line in lines])
    probs /= probs.sum(axis=1, keepdims=True)  # written rounded to 6 decimals
    report = metrics.classification_report(y, probs, classes)
    speakers = sorted({line["speaker"] for line in lines})
    return {"protocol": IN_CORPUS, **_scores(report), "speakers": speakers, "report": report}


def _other_corpus_cell(members, config, corpus: str, roots, task: str, classes) -> dict:
    """Every utterance of a corpus the run did not train on, through its best checkpoint (the
    mean of its `members`' probabilities: one, or an ensemble's)."""
    other = ml_collections.ConfigDict(config.to_dict())  # the run's data settings, this corpus
    other.data.update(corpus=corpus, root=roots.get(corpus) or "", task=task, eval_corpus="")
    utterances = load.read_utterances(other)
    decoded = load.decode(other, utterances)
    utterances = [u for u in utterances if u.path in decoded.waves]
    if not utterances:
        raise errors.DataError(f"no readable utterance of {corpus} in classes {classes}")
    waves = decoded.of(utterances)
    speakers = [u.speaker_key for u in utterances]
    probs = np.mean([m.runner.probs(m.state, waves, speakers=speakers) for m in members], axis=0)
    index = {c: i for i, c in enumerate(classes)}
    report = metrics.classification_report(
        np.array([index[u.label] for u in utterances]), probs, classes
    )
    return {"protocol": CROSS_CORPUS, **_scores(report), "bad_files": len(decoded.bad),
            "speakers": sorted({u.speaker_key for u in utterances}), "report": report}


def _scores(report: dict) -> dict:
    return {"n": report["n"], **{key: report[key] for key in tables.METRICS}}


def write_tables(cells: list[dict], workdir: Path, split: str) -> str:
    """cross_corpus.csv (a row per cell) and cross_corpus.md (a train × test matrix per metric)."""
    workdir.mkdir(parents=True, exist_ok=True)
    fields = ["train", "test", "protocol", "n", *tables.METRICS]
    with open(workdir / "cross_corpus.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(cells)
    rows = list(dict.fromkeys(c["train"] for c in cells))
    columns = list(dict.fromkeys(c["test"] for c in cells))
    by_pair = {(c["train"], c["test"]): c for c in cells}
    header = (f"Classes: {', '.join(cells[0]['classes'])}. Rows: training corpora (split "
              f"{split}); columns: test corpus.")
    lines = [header, ""]
    for key, title in tables.METRIC_TITLES.items():
        lines += [f"**{title}**", "", "| train \\ test | " + " | ".join(columns) + " |",
                  "|---|" + "---:|" * len(columns)]
        for row in rows:
            values = []
            for column in columns:
                cell = by_pair.get((row, column))
                if cell is None:
                    values.append("")
                elif not cell["n"]:
                    values.append("—")
                else:
                    star = "*" if cell["protocol"] == IN_CORPUS else ""
                    values.append(f"{cell[key]:.3f}{star}")
            lines.append(f"| {row} | " + " | ".join(values) + " |")
        lines.append("")
    lines.append(
        "\\* in-corpus: only the speakers of that corpus that the training run's split held out "
        "(never heard in training), so the cell is speaker-independent. — : the split held out "
        "no speaker of that corpus. Other cells test every utterance of a corpus not trained on."
    )
    table = "\n".join(lines) + "\n"
    (workdir / "cross_corpus.md").write_text(table)
    return table
