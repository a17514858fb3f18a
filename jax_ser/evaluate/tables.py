"""Tables of many runs: a row per run, mean ± sample std over them, seed ensembles, and the
finished runs of a workdir. cross_validate, ablate, reevaluate and adaptation_sets write theirs
through here."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np

from jax_ser import protocols
from jax_ser.errors import DataError
from jax_ser.evaluate import metrics

METRICS = ("ua", "wa", "macro_f1")
METRIC_TITLES = {"ua": "UA", "wa": "WA", "macro_f1": "macro-F1"}


def run_dirs(workdir: Path) -> list[Path]:
    """The workdir itself if it is a finished run, else its finished runs (one folder down)."""
    workdir = Path(workdir)
    if (workdir / "metrics.json").exists():
        return [workdir]
    return sorted(p.parent for p in workdir.glob("*/metrics.json"))


def run_key(run_dir: Path) -> tuple[str, str, int] | None:
    """(protocol, argument, seed) of a cross_validate run folder (fold3_seed1,
    loso-ravdess-03_seed0), by its name (protocols.run_name); None for any other folder."""
    return protocols.parse_run_name(Path(run_dir).name)


def fold_column(arg: str):
    """A run's protocol argument as the tables' fold column: a number where it is one."""
    return int(arg) if arg.isdigit() else arg


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
                raise DataError(
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
    replace_file(workdir / "summary.csv", text.getvalue())
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
    replace_file(workdir / "summary.md", table)
    return table


def replace_file(path: Path, text: str) -> None:
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
