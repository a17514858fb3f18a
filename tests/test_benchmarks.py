"""The speed benchmarks run end to end at tiny sizes and print their figures: a test of the
benchmark code, not of speed."""

import math

import jax
import numpy as np

from benchmarks import (
    common,
    features_speed,
    input_pipeline_speed,
    predict_speed,
    train_step_speed,
)
from jax_ser import synthetic, train
from jax_ser.config import base_config


def assert_positive(figures: dict) -> None:
    for name, value in figures.items():
        assert math.isfinite(value) and value > 0, (name, value)


def tiny_mlp_config():
    """A model that compiles in a second: the pipeline and prediction benchmarks take any."""
    config = base_config(model=dict(name="mlp", hidden=(16,)))
    config.data.clip_seconds = 0.5
    config.train.batch_size = 4
    config.train.eval_batch_size = 8
    config.train.progress_bar = False
    return config


def test_features_speed(capsys):
    figures = features_speed.benchmark(batch=2, seconds=0.5, repeats=1)
    assert set(figures) == {"log_mel", "mfcc"}
    for f in figures.values():
        assert_positive(f)
    assert "ratio jax_ser / librosa per clip: log_mel" in capsys.readouterr().out


def test_train_step_speed(capsys):
    """The whole comparison on the BiLSTM (the ResNet18's jitted step takes a minute to compile
    on a 2-core CPU; its twin is checked below)."""
    figures = train_step_speed.benchmark(batch=2, seconds=0.5, steps=1, models=("bilstm",))
    assert_positive(figures["bilstm"])
    # nn.LSTM's second bias vector: 4 gates x 128 units in each of 2 layers x 2 directions.
    assert figures["bilstm"]["torch_params"] - figures["bilstm"]["jax_params"] == 4 * 128 * 4
    assert "ratio jax_ser / PyTorch samples/s: bilstm" in capsys.readouterr().out


def test_torch_resnet18_twin_has_jax_sers_parameters_and_trains():
    config = common.load_config(train_step_speed.REPO / train_step_speed.CONFIGS["resnet18"])
    config.data.clip_seconds = 0.5
    run = train.Run(config)
    abstract = jax.eval_shape(lambda: train.init_state(config, run.model, run.tx,
                                                       run.input_shape))
    model = train_step_speed.torch_model(config, len(run.class_names))
    assert (sum(p.numel() for p in model.parameters())
            == sum(x.size for x in jax.tree.leaves(abstract.params)))
    waves = common.speech_clips(2, 0.5)
    step = train_step_speed.torch_step_fn(config, model, waves, np.array([0, 1], np.int32))
    assert math.isfinite(step())


def test_input_pipeline_speed(tmp_path, capsys):
    synthetic.generate(tmp_path / "corpus", num_speakers=2)
    config = tiny_mlp_config()
    config.data.root = str(tmp_path / "corpus")
    config.data.split = "final"
    config.data.val_speakers = 1
    figures = input_pipeline_speed.benchmark(config, steps=2)
    assert_positive(figures)
    assert "ratio pipeline / train step samples/s" in capsys.readouterr().out


def test_predict_speed_writes_a_workdir_the_predictor_reads(capsys):
    figures = predict_speed.benchmark(tiny_mlp_config(), minutes=0.1, repeats=1)
    assert_positive({k: v for k, v in figures.items() if k != "compile"})
    assert math.isfinite(figures["compile"])  # first call minus a later one: may be about 0
    assert "RTF (processing time / audio duration)" in capsys.readouterr().out
