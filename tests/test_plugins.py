"""Each kind of extension is one new file, found by name: a corpus, a protocol, a speaker-
adaptation method. Here each is a file written to a temporary folder put on its package's path,
as a user's own file in jax_ser/data/corpora, jax_ser/protocols or jax_ser/adapt would be."""

import json
import textwrap

import numpy as np
import pytest

from jax_ser import adapt, protocols
from jax_ser import config as config_lib
from jax_ser.config import workdir as workdir_lib
from jax_ser.data import corpora, load
from jax_ser.data.synthetic import file_name
from jax_ser.errors import ConfigError
from jax_ser.evaluate import tables
from jax_ser.train import cross_validation
from tests.e2e import tiny


def plug_in(monkeypatch, package, tmp_path, name: str, source: str) -> None:
    folder = tmp_path / package.__name__.replace(".", "_")
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(folder)])


def ravdess_names(root, actors, emotions=(1, 5)):
    """Empty files with RAVDESS names: the readers parse names only."""
    for actor in actors:
        (root / f"Actor_{actor:02d}").mkdir(parents=True, exist_ok=True)
        for emotion in emotions:
            (root / f"Actor_{actor:02d}" / file_name(emotion, 1, 1, 1, actor)).touch()
    return root


def fake_run(config, run_dir):
    """A finished run without training."""
    run_dir.mkdir(parents=True)
    workdir_lib.save_or_check_config(config, run_dir)
    results = {"data": {"test_speakers": [config.data.split]}, "best_epoch": 1,
               "train_time_s": 1.0, "test": {m: 0.5 for m in tables.METRICS}}
    (run_dir / "metrics.json").write_text(json.dumps(results))
    return results


def test_a_corpus_is_one_file(monkeypatch, tmp_path):
    plug_in(monkeypatch, corpora, tmp_path, "toy", '''
        """toy: <speaker>_<label>.wav"""
        import os
        from jax_ser.data.corpora import Utterance, audio_files

        def read(root):
            out = []
            for path in audio_files(root):
                speaker, label = os.path.splitext(os.path.basename(path))[0].split("_")
                out.append(Utterance(path, label, speaker, "toy"))
            return out
    ''')
    root = tmp_path / "toy_corpus"
    root.mkdir()
    for speaker in ("a", "b", "c", "d"):
        for label in ("happy", "sad"):
            (root / f"{speaker}_{label}.wav").touch()
    assert "toy" in corpora.names()
    config = tiny(root, **{"data.corpus": "toy", "data.task": "ravdess8:happy,sad",
                           "data.split": "loso:c", "data.val_speakers": 1})
    config_lib.validate(config)
    utterances = load.read_utterances(config)
    assert {(u.speaker, u.label) for u in utterances} == {
        (s, e) for s in "abcd" for e in ("happy", "sad")}
    split = protocols.make_split(utterances, "loso:c", val_speakers=1)
    assert {u.speaker for u in split.test} == {"c"} and {u.speaker for u in split.val} == {"d"}
    with pytest.raises(ConfigError, match="unknown corpus 'toys'.*toy"):
        config_lib.validate(tiny(root, **{"data.corpus": "toys"}))


def test_a_protocol_is_one_file_and_cross_validates(monkeypatch, tmp_path):
    plug_in(monkeypatch, protocols, tmp_path, "halves", '''
        """halves:0 or halves:1 holds out the first or second half of the speakers."""
        from jax_ser.protocols import held_out, sorted_speakers

        FORM = r"[01]"

        def split(utterances, arg, options):
            speakers = sorted_speakers(utterances)
            half = set(speakers[: len(speakers) // 2] if arg == "0"
                       else speakers[len(speakers) // 2:])
            return held_out(utterances, half, f"halves:{arg}", options.val_speakers)

        def runs(utterances, options):
            return ["0", "1"]
    ''')
    corpus = ravdess_names(tmp_path / "ravdess", range(1, 9))
    config = tiny(corpus, **{"data.split": "halves", "train.progress_bar": False})
    rows = cross_validation.cross_validate(config, tmp_path / "cv", train_fn=fake_run)
    assert [r["fold"] for r in rows] == [0, 1]
    assert sorted(p.name for p in (tmp_path / "cv").glob("*_seed0")) == [
        "halves0_seed0", "halves1_seed0"]
    with pytest.raises(ConfigError, match="halves:2.*halves:0 or halves:1"):
        config_lib.validate(tiny(corpus, **{"data.split": "halves:2"}))


def test_an_adaptation_method_is_one_file_with_its_keys(monkeypatch, tmp_path):
    plug_in(monkeypatch, adapt, tmp_path, "toy_shift", '''
        """Adds adapt.toy_shift to the first class's bias, for each speaker: a method to test."""
        import dataclasses
        import jax

        DEFAULTS = {"toy_shift": 0.0}
        ORDER = 3
        CALLS = []

        def active(config):
            return config.adapt.toy_shift != 0

        def adapt(runner, speaker):
            CALLS.append(len(speaker.recordings))
            params = jax.tree_util.tree_map_with_path(
                lambda path, x: x.at[0].add(runner.config.adapt.toy_shift)
                if "bias" in str(path[-1]) and x.shape == (len(runner.class_names),) else x,
                speaker.state.params)
            return dataclasses.replace(speaker, state=speaker.state.replace(params=params))
    ''')
    from jax_ser.evaluate.runner import Runner

    config = tiny("unused", **{"data.clip_seconds": 0.5, "model.width": 4})
    assert config.adapt.toy_shift == 0.0  # the method's key, from its file
    config.adapt.toy_shift = 0.5
    config.data.task = "ravdess8"
    run = Runner(config)
    assert [m.__name__.rpartition(".")[2] for m in run.adapters] == ["toy_shift"]
    state = run.init()
    rng = np.random.default_rng(0)
    waves = [rng.standard_normal(8000).astype(np.float32) * 0.1 for _ in range(5)]
    plain = run.probs(state, waves)  # no speakers: the model as trained
    adapted = run.probs(state, waves, speakers=["a", "a", "b", "b", "b"])
    assert adapt.method("toy_shift").CALLS == [2, 3]  # once per speaker, their recordings
    assert np.all(adapted[:, 0] > plain[:, 0])  # the first class gained on every recording
    np.testing.assert_allclose(adapted.sum(axis=1), 1, atol=1e-5)
    config.adapt.toy_shift = 0.0  # off: the runner has nothing to apply
    assert Runner(config).adapters == []


def test_cross_validate_runs_every_speaker_for_loso(monkeypatch, tmp_path):
    corpus = ravdess_names(tmp_path / "ravdess", range(1, 7))
    config = tiny(corpus, **{"data.split": "loso", "train.progress_bar": False})
    rows = cross_validation.cross_validate(config, tmp_path / "cv", train_fn=fake_run)
    assert [r["fold"] for r in rows] == [f"ravdess/{a:02d}" for a in range(1, 7)]
    assert sorted(p.name for p in (tmp_path / "cv").glob("loso*")) == [
        f"loso-ravdess-{a:02d}_seed0" for a in range(1, 7)]
    saved = json.loads((tmp_path / "cv" / "loso-ravdess-03_seed0" / "config.json").read_text())
    assert saved["data"]["split"] == "loso:ravdess/03"
    # read back, not trained again; --folds picks speakers
    rows = cross_validation.cross_validate(config, tmp_path / "cv", folds=["ravdess/02"],
                                           train_fn=None)
    assert len(rows) == 6


def test_cross_validate_runs_every_session_and_refuses_what_it_cannot(tmp_path):
    from tests.test_corpora import write_iemocap

    write_iemocap(tmp_path / "iemocap")
    config = tiny(tmp_path / "iemocap", **{"data.corpus": "iemocap", "data.task": "iemocap4",
                                           "data.split": "session", "data.val_speakers": 0,
                                           "train.progress_bar": False})
    runs = []

    def record(config, run_dir):
        runs.append((config.data.split, run_dir.name))
        return fake_run(config, run_dir)

    cross_validation.cross_validate(config, tmp_path / "cv", train_fn=record)
    assert runs == [("session:1", "session1_seed0"), ("session:2", "session2_seed0")]
    from jax_ser.errors import DataError

    for split in ("final", "random"):
        refused = tiny(tmp_path / "iemocap", **{"data.corpus": "iemocap", "data.split": split,
                                                "data.task": "iemocap4",
                                                "data.allow_random_split": True})
        with pytest.raises(DataError, match=f"protocol '{split}' has no set of runs"):
            cross_validation.cross_validate(refused, tmp_path / split, train_fn=record)
    ravdess = ravdess_names(tmp_path / "ravdess", range(1, 5))
    with pytest.raises(DataError, match="needs recording sessions"):
        cross_validation.cross_validate(tiny(ravdess, **{"data.split": "session"}),
                                        tmp_path / "s", train_fn=record)
    assert len(runs) == 2


def test_one_run_of_a_protocol_needs_its_argument(tmp_path):
    utterances = load.read_utterances(tiny(ravdess_names(tmp_path / "r", range(1, 5))))
    with pytest.raises(ValueError, match="'loso' stands for every loso run.*cross_validate"):
        protocols.make_split(utterances, "loso")
    assert len(protocols.make_split(utterances, "loso:03", val_speakers=1).test) == 2
