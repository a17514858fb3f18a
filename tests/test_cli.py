"""The command line refuses bad configs before any work, and bad audio files are skipped and
counted."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jax_ser import config as config_lib
from jax_ser import errors
from jax_ser.config import cli
from jax_ser.train import loop
from tests import tiny_config
from tests.e2e import REPO, cli_args, run_cli, tiny


@pytest.mark.parametrize(
    "override, message",
    [
        ("--config.train.lerning_rate=0.1", "--config.train.lerning_rate: the config has no key "
         "train.lerning_rate; did you mean --config.train.learning_rate?"),
        ("--config.train.batch_size=lots", "batch_size"),
        ("--config.data.corpus=ravdes", "unknown corpus 'ravdes'"),
    ],
)
def test_bad_config_stops_the_command_before_any_work(tiny_corpus, tmp_path, override, message):
    done = run_cli(cli_args(tiny_corpus, tmp_path / "w", override))
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "w" / "checkpoints").exists()


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("model.name", "resnot", "unknown model 'resnot'.*classical"),
        ("data.split", "speaker", "config.data.split"),
        ("data.task", "ravdess9", "unknown task 'ravdess9'"),
        ("features.name", "mfccs", "config.features.name"),
        ("train.schedule", "cosine", "config.train.schedule"),
        ("model.depth", 19, "config.model"),
    ],
)
def test_meaningless_values_are_named(key, value, message):
    config = tiny_config.get_config()
    section, field = key.split(".")
    config[section][field] = value
    with pytest.raises(errors.ConfigError, match=message):
        config_lib.validate(config)


def test_real_corpus_needs_its_root():
    config = tiny_config.get_config()
    config.data.corpus = "ravdess"
    with pytest.raises(errors.ConfigError, match="config.data.root is required"):
        config_lib.validate(config)


def test_random_split_needs_explicit_consent():
    config = tiny_config.get_config()
    config.data.split = "random"
    with pytest.raises(errors.ConfigError, match="allow_random_split"):
        config_lib.validate(config)
    config.data.allow_random_split = True
    config_lib.validate(config)


def test_resuming_with_another_config_is_refused(tiny_corpus, tmp_path):
    (tmp_path / "config.json").write_text(tiny(tiny_corpus).to_json_best_effort())
    with pytest.raises(errors.ConfigError, match="data.split"):
        loop.train_and_evaluate(tiny(tiny_corpus, **{"data.split": "fold:1"}), tmp_path)


@pytest.fixture
def corpus_with_bad_files(tiny_corpus, tmp_path):
    root = tmp_path / "corpus"
    shutil.copytree(tiny_corpus, root)
    actor = root / "Actor_05"
    bad = {
        actor / "03-01-03-01-01-01-05.wav": b"this is not audio",
        actor / "03-01-04-01-01-01-05.wav": b"",
    }
    for path, content in bad.items():
        path.write_bytes(content)
    truncated = actor / "03-01-05-01-01-01-05.wav"
    truncated.write_bytes(truncated.read_bytes()[:2000])
    return root, sorted(str(p) for p in [*bad, truncated])


def test_bad_files_are_skipped_and_counted(corpus_with_bad_files, tmp_path):
    root, bad = corpus_with_bad_files
    config = tiny(root, **{"train.num_epochs": 1, "train.progress_bar": False})
    results = loop.train_and_evaluate(config, tmp_path / "w")
    files = results["data"]["bad_files"]["files"]
    assert sorted(files) == bad
    assert files[bad[0]].startswith("unreadable")
    assert set(files.values()) >= {"truncated"}
    written = json.loads((tmp_path / "w" / "metrics.json").read_text())
    assert written["data"]["bad_files"]["count"] == 3
    assert "skipping" in (tmp_path / "w" / "log.txt").read_text()


def test_too_many_bad_files_stop_the_run(corpus_with_bad_files, tmp_path):
    root, _ = corpus_with_bad_files
    config = tiny(root, **{"data.max_bad_fraction": 0.001})
    with pytest.raises(errors.DataError, match="3 of 480 audio files"):
        loop.train_and_evaluate(config, tmp_path / "w")


def test_configs_are_found_by_name_or_path(tmp_path, monkeypatch):
    by_name = cli.find("resnet18_mel")
    assert Path(by_name).is_file() and Path(by_name).parent == cli.CONFIGS
    assert cli.find("ablations/recipe.py") == str(cli.CONFIGS / "ablations" / "recipe.py")
    assert cli.find(by_name + ":arg") == by_name + ":arg"  # ml_collections' get_config argument
    own = tmp_path / "mine.py"
    own.write_text("")
    assert cli.find(str(own)) == str(own)
    monkeypatch.chdir(tmp_path)  # the docs' configs/X.py away from the checkout: the packaged one
    assert cli.find("configs/resnet18_mel.py") == by_name
    with pytest.raises(ValueError, match="no config 'resnet19'.*resnet18_mel, wav2vec2_base_cls"):
        cli.find("resnet19")
    assert {"resnet18_mel", "ablations/recipe", "wav2vec2_q2l"} <= set(cli.names())
    assert cli.default_workdir(by_name).startswith(os.path.join("runs", "resnet18_mel", "20"))
    assert cli.default_workdir(by_name, "cross_validate").split(os.sep)[-1].startswith("cross_")


def test_design_card_command_names_the_missing_checkpoint_at_once(tmp_path):
    """`python -m jax_ser.main --config configs/wav2vec2_q2l.py` as the design card types it, no
    --workdir, on a machine without a network: exit 2 with what to do, before any data or workdir
    (from tmp_path, so the default runs/ folder would land there, not in the checkout)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "jax_ser.main", "--config",
                           "configs/wav2vec2_q2l.py"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert "error: cannot download facebook/wav2vec2-base" in done.stderr
    assert ("--config.model.checkpoint=" in done.stderr
            and "--config.model.init=random" in done.stderr)
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "runs").exists()
