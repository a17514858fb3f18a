"""Speaker-independent k-fold cross-validation in one command, with a mean ± std table.

  python -m jax_ser.cross_validate --config configs/resnet18_mel.py --workdir runs/cv \
      [--folds=0,1] [--seeds=0,1] [--config.data.corpus=ravdess --config.data.root=...]

The folds are those of data.fold_size consecutive speakers (split fold:K, K from 0), or, with
--config.data.split=emobox:1 (any K), EmoBox's six RAVDESS folds emobox:1 .. emobox:6. Each fold
and seed is an ordinary run in <workdir>/fold<K>_seed<S> (emobox<K>_seed<S>): interrupted, it
resumes; finished, it is not run again. One seed on a few held-out speakers swings by several
points, so the table reports every run and the mean and sample standard deviation over all of
them. It counts every finished run of the workdir, also folds and seeds that earlier commands ran
(--folds=0, then --folds=1: the table has both) or that commands beside it finished (--folds=0
and --folds=1 at once), except runs made with another config, which it names and leaves out.
--ensemble=N also scores seed ensembles: each fold's seeds in groups of N, their test
probabilities averaged (ensemble.md, ensemble.csv). Unlike the summary, it groups only the folds
and seeds asked for, so seeds finished beside them do not change the groups.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
from pathlib import Path

import numpy as np
from absl import app, flags, logging
from ml_collections import config_flags

from jax_ser import config as config_lib, input_pipeline, labels, metrics, splits, train


METRICS = ("ua", "wa", "macro_f1")


def protocol_kind(config) -> str:
    """The split kind cross-validated: "emobox" when data.split is emobox:K, else "fold"."""
    return "emobox" if config.data.split.startswith("emobox:") else "fold"


def protocol_folds(config, utterances) -> tuple[str, list[int]]:
    """The split kind cross-validated and every fold number it has."""
    if protocol_kind(config) == "emobox":
        return "emobox", sorted(splits.EMOBOX_RAVDESS_FOLDS)
    return "fold", list(range(len(splits.speaker_folds(utterances, config.data.fold_size))))


def check_folds(config, utterances, kind: str, folds: list[int]) -> None:
    """Every requested fold must split these data, before the first one trains: a DataError
    names each fold that cannot (e.g. the EmoBox actors it lacks) and the folds that can."""
    problems, runnable = [], []
    for fold in folds:
        try:
            splits.make_split(utterances, f"{kind}:{fold}", fold_size=config.data.fold_size,
                              val_speakers=config.data.val_speakers, seed=config.seed,
                              eval_corpus=config.data.eval_corpus)
            runnable.append(fold)
        except ValueError as e:
            problems.append(str(e))
    if problems:
        hint = (f"; --folds={','.join(map(str, runnable))} runs the folds these data hold"
                if runnable else "")
        raise input_pipeline.DataError("\n".join(problems) + hint)


def cross_validate(config, workdir: str | Path, folds=None, seeds=None,
                   train_fn=None) -> list[dict]:
    """Every fold (and seed) of the config's protocol, each `train_fn(run_config, run_dir)` in
    its own folder (a finished one, with metrics.json, is read back); the summary tables' rows.
    `train_fn` trains and writes metrics.json: train.train_and_evaluate unless given
    (benchmarks/reference_recipe.py passes its own)."""
    train_fn = train_fn or train.train_and_evaluate
    config_lib.validate(config)
    workdir = Path(workdir)
    utterances = train.read_utterances(config)
    scored = [u for u in utterances if u.corpus == config.data.eval_corpus or
              not config.data.eval_corpus]
    kind, all_folds = protocol_folds(config, scored)
    folds = all_folds if not folds else [int(k) for k in folds]
    check_folds(config, utterances, kind, folds)
    seeds = asked_seeds(config, seeds)

    def run_config(fold: int, seed: int):
        c = config.copy_and_resolve_references()
        c.data.split, c.seed = f"{kind}:{fold}", seed
        return c

    rows = {}  # this command's runs; the tables also re-read the others' before each write
    for fold in folds:
        for seed in seeds:
            run_dir = workdir / f"{kind}{fold}_seed{seed}"
            finished = run_dir / "metrics.json"
            if finished.exists():
                train.save_or_check_config(run_config(fold, seed), run_dir)
                results = json.loads(finished.read_text())
                print(
                    f"fold {fold} seed {seed}: finished earlier, read {finished}", file=sys.stderr
                )
            else:
                results = train_fn(run_config(fold, seed), run_dir)
            rows[fold, seed] = summary_row(fold, seed, results)
            every = {**earlier_runs(workdir, kind, run_config, skip=set(rows)), **rows}
            write_tables([every[k] for k in sorted(every)], workdir)
    return [every[k] for k in sorted(every)]


def asked_seeds(config, seeds) -> list[int]:
    """--seeds as numbers; without it, the config's own seed."""
    return [int(s) for s in seeds] if seeds else [config.seed]


def earlier_runs(workdir: Path, kind: str, run_config, skip: set) -> dict:
    """{(fold, seed): row} of the runs finished in `workdir` by other commands (earlier ones,
    or ones running beside this one on other folds), other than `skip`; a run whose saved
    config differs from `run_config(fold, seed)` is named on stderr and left out, so one table
    never mixes configs."""
    rows = {}
    for finished in sorted(workdir.glob(f"{kind}*_seed*/metrics.json")):
        match = re.fullmatch(rf"{kind}(\d+)_seed(\d+)", finished.parent.name)
        if not match or (key := (int(match[1]), int(match[2]))) in skip:
            continue
        changed = train.config_changes(run_config(*key), finished.parent)
        if changed:
            print(f"left out of the summary: {finished.parent} was run with another config "
                  f"({', '.join(changed[:3])})", file=sys.stderr)
            continue
        rows[key] = summary_row(*key, json.loads(finished.read_text()))
    return rows


def ensemble_rows(predictions: dict, size: int, class_names) -> list[dict]:
    """Seed ensembles: for each fold, its seeds in consecutive groups of `size` (seeds 0-5 and
    size 3: 0+1+2 and 3+4+5; an incomplete last group is left out), each scored on the mean of
    its runs' test probabilities. `predictions` {(fold, seed): {path: line}}: each run's test
    predictions, as in its predictions_test.jsonl (`test_predictions`)."""
    by_fold: dict[int, list[int]] = {}
    for fold, seed in sorted(predictions):
        by_fold.setdefault(fold, []).append(seed)
    rows = []
    for fold, seeds in by_fold.items():
        for start in range(0, len(seeds) - size + 1, size):
            group = seeds[start : start + size]
            lines = [predictions[fold, s] for s in group]
            paths = sorted(lines[0])
            if any(sorted(p) != paths for p in lines[1:]):
                raise input_pipeline.DataError(
                    f"fold {fold}: seeds {group} did not test the same utterances"
                )
            probs = np.mean([[[p[path]["probs"][c] for c in class_names] for path in paths]
                             for p in lines], axis=0)
            truth = np.array([list(class_names).index(lines[0][path]["label"])
                              for path in paths])
            report = metrics.classification_report(truth, probs, class_names)
            rows.append({
                "fold": fold,
                "seeds": "+".join(map(str, group)),
                "test_speakers": " ".join(sorted({lines[0][p]["speaker"] for p in paths})),
                **{m: report[m] for m in METRICS},
            })
    return rows


def seed_ensembles(config, workdir: Path, rows: list[dict], size: int, folds=None,
                   seeds=None) -> list[dict]:
    """`ensemble_rows` of the summary `rows` of the folds and seeds asked for (`folds`, `seeds`
    as cross_validate takes them): --seeds=6,7 --ensemble=2 scores 6+7 even where 8 and 9 have
    finished in the workdir too."""
    folds = {int(k) for k in folds or []}
    seeds = set(asked_seeds(config, seeds))
    kind = protocol_kind(config)
    predictions = {(r["fold"], r["seed"]): test_predictions(
        workdir / f"{kind}{r['fold']}_seed{r['seed']}") for r in rows
        if r["seed"] in seeds and (not folds or r["fold"] in folds)}
    return ensemble_rows(predictions, size, labels.task_classes(config.data.task))


def test_predictions(run_dir: Path) -> dict:
    """{path: line} of a run's predictions_test.jsonl."""
    with open(run_dir / "predictions_test.jsonl") as f:
        return {line["path"]: line for line in map(json.loads, f)}


def write_ensemble_tables(rows: list[dict], workdir: Path, size: int, name: str = "ensemble",
                          title: str = "") -> str:
    """<name>.csv (a row per fold and seed group) and <name>.md (plus mean ± std)."""
    with open(workdir / f"{name}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        f"Ensembles of {size} seeds: mean test probabilities of their runs{title}",
        "",
        "| fold | seeds | test speakers | UA | WA | macro-F1 |",
        "|---:|---|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['fold']} | {r['seeds']} | {r['test_speakers']} | {r['ua']:.3f} | "
                     f"{r['wa']:.3f} | {r['macro_f1']:.3f} |")
    lines.append(f"| **mean ± std** | | {len(rows)} ensembles | "
                 + " | ".join(mean_std([r[m] for r in rows]) for m in METRICS) + " |")
    table = "\n".join(lines) + "\n"
    (workdir / f"{name}.md").write_text(table)
    return table


def summary_row(fold: int, seed: int, results: dict) -> dict:
    return {
        "fold": fold,
        "seed": seed,
        "test_speakers": " ".join(results["data"]["test_speakers"]),
        **{m: results["test"][m] for m in METRICS},
        "best_epoch": results["best_epoch"],
        "train_time_s": results["train_time_s"],
    }


def write_tables(rows: list[dict], workdir: Path) -> str:
    """summary.csv (a row per run) and summary.md (plus mean ± std); returns the Markdown."""
    workdir.mkdir(parents=True, exist_ok=True)
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    _replace(workdir / "summary.csv", text.getvalue())
    lines = [
        "| fold | seed | test speakers | UA | WA | macro-F1 | best epoch | time (s) |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['fold']} | {r['seed']} | {r['test_speakers']} | {r['ua']:.3f} | "
            f"{r['wa']:.3f} | {r['macro_f1']:.3f} | {r['best_epoch']} | {r['train_time_s']:.0f} |"
        )
    lines.append(
        f"| **mean ± std** | | {len(rows)} runs | "
        + " | ".join(mean_std([r[m] for r in rows]) for m in METRICS)
        + " | | |"
    )
    table = "\n".join(lines) + "\n"
    _replace(workdir / "summary.md", table)
    return table


def _replace(path: Path, text: str) -> None:
    """Write whole or not at all: folds running side by side rewrite the same tables."""
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, newline="")
    os.replace(tmp, path)


def mean_and_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def mean_std(values) -> str:
    return "{:.3f} ± {:.3f}".format(*mean_and_std(values))


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)
    try:
        rows = cross_validate(
            flags.FLAGS.config, flags.FLAGS.workdir, flags.FLAGS.folds, flags.FLAGS.seeds
        )
    except (config_lib.ConfigError, input_pipeline.DataError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    workdir = Path(flags.FLAGS.workdir)
    print(write_tables(rows, workdir))
    print(f"tables in {workdir / 'summary.md'} and summary.csv")
    size = flags.FLAGS.ensemble
    if size > 1:
        groups = seed_ensembles(flags.FLAGS.config, workdir, rows, size, flags.FLAGS.folds,
                                flags.FLAGS.seeds)
        if not groups:
            print(f"error: --ensemble={size}: no fold has {size} of the seeds asked for finished",
                  file=sys.stderr)
            return 2
        print(write_ensemble_tables(groups, workdir, size))
        print(f"ensemble tables in {workdir / 'ensemble.md'} and ensemble.csv")
    return 0


def define_flags():
    """Command-line flags, defined only when run as a program, so the module imports cleanly."""
    config_flags.DEFINE_config_file(
        "config", None, "Experiment config file (configs/*.py).", lock_config=True
    )
    flags.DEFINE_string("workdir", None, "Folder holding one run folder per fold and seed.")
    flags.DEFINE_list("folds", [], "Fold numbers to run (fold:K from 0, emobox:K from 1); "
                      "default: every fold of the protocol.")
    flags.DEFINE_list("seeds", [], "Seeds to run; default: the config's seed.")
    flags.DEFINE_integer("ensemble", 1, "Also score seed ensembles: each fold's seeds in groups "
                         "of this many, their test probabilities averaged (ensemble.md); 1 = off.")
    flags.mark_flags_as_required(["config", "workdir"])


if __name__ == "__main__":
    define_flags()
    app.run(main)
