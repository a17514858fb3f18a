"""Cross-validation: every run of a protocol (jax_ser.protocols) and seed trained in its own
folder, or read back where it finished, and the summary of all of them (jax_ser.evaluate.tables).
`python -m jax_ser.cross_validate` and `jax_ser.ablate` run through here."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from jax_ser import config as config_lib
from jax_ser import protocols
from jax_ser.config import workdir as workdir_lib
from jax_ser.data import labels, load
from jax_ser.errors import DataError
from jax_ser.evaluate import tables
from jax_ser.train import loop


def protocol_runs(config, utterances) -> tuple[str, list[str]]:
    """The protocol that data.split names and the argument of each of its runs."""
    kind = config.data.split.partition(":")[0]
    scored = [u for u in utterances
              if u.corpus == config.data.eval_corpus or not config.data.eval_corpus]
    try:
        return kind, protocols.runs(scored, kind, protocols.Options.of(config))
    except ValueError as e:
        raise DataError(str(e)) from None


def check_runs(config, utterances, kind: str, args: list[str], known: list[str]) -> None:
    """Every requested run must split these data, before the first one trains: a DataError
    names each that cannot (e.g. the EmoBox actors it lacks) and the runs that can."""
    problems, runnable = [], []
    for arg in args:
        if arg not in known:
            problems.append(f"{kind} has no run {arg!r} here; its runs: {', '.join(known)}")
            continue
        try:
            protocols.make_split(utterances, f"{kind}:{arg}", fold_size=config.data.fold_size,
                                 val_speakers=config.data.val_speakers, seed=config.seed,
                                 eval_corpus=config.data.eval_corpus)
            runnable.append(arg)
        except ValueError as e:
            problems.append(str(e))
    if problems:
        hint = (f"; --folds={','.join(runnable)} runs the ones these data hold"
                if runnable else "")
        raise DataError("\n".join(problems) + hint)


def cross_validate(config, workdir: str | Path, folds=None, seeds=None,
                   train_fn=None) -> list[dict]:
    """Every run (and seed) of the config's protocol, each `train_fn(run_config, run_dir)` in
    its own folder (a finished one, with metrics.json, is read back); the summary tables' rows.
    `train_fn` trains and writes metrics.json: train.loop.train_and_evaluate unless given
    (benchmarks/reference_recipe.py passes its own)."""
    config_lib.validate(config)
    workdir = Path(workdir)
    utterances = load.read_utterances(config)
    kind, known = protocol_runs(config, utterances)
    if ":" in config.data.split:
        print(f"cross_validate runs every {kind} run: the argument of data.split="
              f"{config.data.split} is ignored (--folds picks runs)", file=sys.stderr)
    args = known if not folds else [str(k) for k in folds]
    check_runs(config, utterances, kind, args, known)
    seeds = asked_seeds(config, seeds)

    def run_config(arg: str, seed: int):
        c = config.copy_and_resolve_references()
        c.data.split, c.seed = f"{kind}:{arg}", seed
        return c

    rows = {}  # this command's runs; the tables also re-read the others' before each write
    for arg in args:
        for seed in seeds:
            run_dir = workdir / protocols.run_name(kind, arg, seed)
            results, earlier = loop.train_or_read(run_config(arg, seed), run_dir, train_fn)
            if earlier:
                print(f"{kind} {arg} seed {seed}: finished earlier, read {run_dir}/metrics.json",
                      file=sys.stderr)
            rows[arg, seed] = tables.summary_row(tables.fold_column(arg), seed, results)
            every = {**earlier_runs(workdir, kind, run_config, skip=set(rows)), **rows}
            tables.write_tables([every[k] for k in _ordered(every)], workdir)
    return [every[k] for k in _ordered(every)]


def _ordered(rows: dict) -> list:
    return sorted(rows, key=lambda k: ((int(k[0]), ()) if k[0].isdigit()
                                       else (-1, protocols.natural_key(k[0])), k[1]))


def asked_seeds(config, seeds) -> list[int]:
    """--seeds as numbers; without it, the config's own seed."""
    return [int(s) for s in seeds] if seeds else [config.seed]


def earlier_runs(workdir: Path, kind: str, run_config, skip: set) -> dict:
    """{(arg, seed): row} of the runs of protocol `kind` finished in `workdir` by other commands
    (earlier ones, or ones running beside this one), other than `skip`; a run whose saved config
    differs from `run_config(arg, seed)` is named on stderr and left out, so one table never
    mixes configs."""
    rows = {}
    for run_dir in tables.run_dirs(workdir):
        key = tables.run_key(run_dir)
        if key is None or key[0] != kind:
            continue
        saved = workdir_lib.read(run_dir)
        arg, seed = saved.data.split.partition(":")[2], int(saved.seed)
        if (arg, seed) in skip:
            continue
        changed = workdir_lib.config_changes(run_config(arg, seed), run_dir)
        if changed:
            print(f"left out of the summary: {run_dir} was run with another config "
                  f"({', '.join(changed[:3])})", file=sys.stderr)
            continue
        rows[arg, seed] = tables.summary_row(tables.fold_column(arg), seed,
                                             json.loads((run_dir / "metrics.json").read_text()))
    return rows


def seed_ensembles(config, workdir: Path, rows: list[dict], size: int, folds=None,
                   seeds=None) -> list[dict]:
    """`tables.ensemble_rows` of the summary `rows` of the runs and seeds asked for (`folds`,
    `seeds` as cross_validate takes them): --seeds=6,7 --ensemble=2 scores 6+7 even where 8 and
    9 have finished in the workdir too."""
    folds = {str(k) for k in folds or []}
    seeds = set(asked_seeds(config, seeds))
    kind = config.data.split.partition(":")[0]
    predictions = {(r["fold"], r["seed"]): tables.test_predictions(
        workdir / protocols.run_name(kind, str(r["fold"]), r["seed"])) for r in rows
        if r["seed"] in seeds and (not folds or str(r["fold"]) in folds)}
    return tables.ensemble_rows(predictions, size, labels.task_classes(config.data.task))
