"""Ablations: every cell of a grid of config overrides cross-validated
(jax_ser.train.cross_validation), and one mean ± std table over the cells.
`python -m jax_ser.ablate` runs through here.

The ablation config defines `get_config()` (the base) and `get_grid()`: an ordered dict from an
axis name to its values. An axis named by a config key ("train.learning_rate") takes plain values;
any other axis ("representation") takes a dict from a value's name to the overrides it stands for.
"""

from __future__ import annotations

import csv
import itertools
import sys
from pathlib import Path

from jax_ser import config as config_lib
from jax_ser import errors
from jax_ser.evaluate import tables
from jax_ser.train import cross_validation


def load_grid(config_file: str) -> dict:
    module = config_lib.load_module(config_file)
    if not hasattr(module, "get_grid"):
        raise errors.ConfigError(f"{config_file} defines no get_grid() for the ablation")
    return module.get_grid()


def cells(grid: dict) -> list[tuple[str, dict]]:
    """(name, flattened overrides) of every cell, in the order of the product of the axes."""
    axes = []
    for axis, values in grid.items():
        if isinstance(values, dict):  # named values standing for several overrides
            axes.append([(f"{axis}={name}", dict(over)) for name, over in values.items()])
        else:
            axes.append([(f"{axis.split('.')[-1]}={_fmt(v)}", {axis: v}) for v in values])
    out = []
    for combo in itertools.product(*axes):
        overrides = {}
        for _, over in combo:
            overrides.update(over)
        out.append((",".join(name for name, _ in combo), overrides))
    return out


def _fmt(value) -> str:
    if isinstance(value, (tuple, list)):
        return "x".join(str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def cell_config(config, overrides: dict):
    config = config.copy_and_resolve_references()
    for key, value in overrides.items():
        node = config
        *path, field = key.split(".")
        try:
            for part in path:
                node = node[part]
            node[field] = value
        except (KeyError, AttributeError, TypeError) as e:
            raise errors.ConfigError(f"ablation override {key}={value!r}: {e}") from None
    return config


def ablate(config, grid: dict, workdir, folds=None, seeds=None, only=None) -> list[dict]:
    """Run the cells (all, or the indices in `only`), then tabulate every cell with results."""
    workdir = Path(workdir)
    all_cells = cells(grid)
    for _, overrides in all_cells:  # every cell must be valid before the first one runs
        config_lib.validate(cell_config(config, overrides))
    for index, (name, overrides) in enumerate(all_cells):
        if only is None or index in only:
            print(f"cell {index}: {name}", file=sys.stderr)
            cross_validation.cross_validate(
                cell_config(config, overrides), workdir / name, folds, seeds
            )
    return collect(workdir, [name for name, _ in all_cells])


def collect(workdir: Path, names: list[str]) -> list[dict]:
    """A row per cell from its cross-validation summary.csv, so cells run on other hosts (or in
    an earlier, interrupted call) are counted too."""
    rows = []
    for name in names:
        path = workdir / name / "summary.csv"
        if not path.exists():
            continue
        with open(path, newline="") as f:
            runs = list(csv.DictReader(f))
        row = {"cell": name, "runs": len(runs)}
        for m in tables.METRICS:
            row[m], row[f"{m}_std"] = tables.mean_and_std([float(r[m]) for r in runs])
        row["time_s"] = float(sum(float(r["train_time_s"]) for r in runs))
        rows.append(row)
    if rows:
        write_tables(rows, workdir)
    return rows


def write_tables(rows: list[dict], workdir: Path) -> str:
    """ablation.csv and ablation.md: a row per cell, mean ± std over its folds and seeds."""
    workdir.mkdir(parents=True, exist_ok=True)
    with open(workdir / "ablation.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| cell | runs | UA | WA | macro-F1 | time (s) |", "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        scores = " | ".join(f"{r[m]:.3f} ± {r[m + '_std']:.3f}" for m in tables.METRICS)
        lines.append(f"| {r['cell']} | {r['runs']} | {scores} | {r['time_s']:.0f} |")
    table = "\n".join(lines) + "\n"
    (workdir / "ablation.md").write_text(table)
    return table
