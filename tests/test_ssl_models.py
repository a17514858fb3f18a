"""The encoder configs as users run them: `wav2vec2_q2l` loads a Hugging Face checkpoint through the
training Run and fine-tunes only what it should, and every encoder config trains from scratch."""

import jax
import ml_collections
import numpy as np
import pytest
from flax import traverse_util

from jax_ser import config as config_lib
from jax_ser.data import cache, load
from jax_ser.evaluate import runner
from jax_ser.models.pretrained import extract, hf_checkpoint
from jax_ser.models.pretrained.wav2vec2 import Encoder
from jax_ser.train import loop, trainer
from tests import tiny_config
from tests.e2e import REPO
from tests.test_encoders import torch_model

CONFIGS = ("wav2vec2_q2l", "wav2vec2_base_cls", "hubert_large_cls", "wavlm_mlp")


def load_config(name, checkpoint, **model_overrides):
    config = config_lib.load_module(REPO / "configs" / f"{name}.py").get_config()
    config.model.checkpoint = str(checkpoint)
    for key, value in model_overrides.items():
        config.model[key] = value
    config.data.clip_seconds, config.train.batch_size = 1.0, 8
    config.train.schedule, config.train.warmup_epochs = "constant", 0.0
    config_lib.validate(config)
    return config


@pytest.fixture(scope="module")
def wavlm_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("wavlm_tiny")
    torch_model("wavlm_base").save_pretrained(path)
    return path


def flat(tree):
    return traverse_util.flatten_dict(jax.device_get(tree), sep="/")


def test_checkpoint_loads_and_only_unfrozen_parts_train(wavlm_checkpoint):
    config = load_config("wav2vec2_q2l", wavlm_checkpoint)
    run = trainer.Trainer(config, steps_per_epoch=2)
    state = run.init()
    params = flat(state.params)
    _, reference = hf_checkpoint.load(wavlm_checkpoint)
    for key, value in flat(reference).items():
        np.testing.assert_array_equal(params[f"encoder/{key}"], value)

    rng = np.random.default_rng(0)
    batch = {
        "wave": rng.normal(size=(8, run.clip_samples)).astype(np.float32),
        "label": rng.integers(0, 8, 8).astype(np.int32),
    }
    state, m = run.train_step(state, {k: run.to_global(v) for k, v in batch.items()})
    assert bool(m["finite"])
    after = flat(state.params)
    changed = {k for k in params if not np.array_equal(params[k], after[k])}
    assert not any(k.startswith("encoder/feature_extractor") for k in changed)  # frozen CNN
    for part in ("encoder/encoder/layers_0", "encoder/encoder/layers_1", "head", "layer_weights"):
        assert any(k.startswith(part) for k in changed), part


def test_layer_wise_decay_and_frozen_layers_set_learning_rate_factors(wavlm_checkpoint):
    config = load_config("wav2vec2_q2l", wavlm_checkpoint, freeze_layers=1)
    run = runner.Runner(config)
    scales = flat(run.module.lr_scales(jax.eval_shape(run.init).params, config.model))
    assert scales["encoder/feature_projection/projection/kernel"] == 0.0
    assert scales["encoder/encoder/layers_0/attention/q_proj/kernel"] == 0.0
    assert scales["encoder/encoder/layers_1/attention/q_proj/kernel"] == pytest.approx(0.1)
    assert scales["layer_weights"] == 1.0
    config = load_config("wav2vec2_q2l", wavlm_checkpoint)
    scales = flat(run.module.lr_scales(jax.eval_shape(run.init).params, config.model))
    assert scales["encoder/encoder/layers_0/attention/q_proj/kernel"] == pytest.approx(0.1 * 0.9)
    assert scales["encoder/feature_projection/projection/kernel"] == pytest.approx(0.1 * 0.9**2)


@pytest.mark.parametrize("name", CONFIGS)
def test_every_encoder_config_steps_from_scratch(name, wavlm_checkpoint):
    config = load_config(name, wavlm_checkpoint, remat=False)
    config.model.init = "random"
    run = trainer.Trainer(config, steps_per_epoch=2)
    state = run.init()
    rng = np.random.default_rng(1)
    batch = {
        "wave": rng.normal(size=(8, run.clip_samples)).astype(np.float32),
        "label": rng.integers(0, 8, 8).astype(np.int32),
    }
    for _ in range(2):
        state, m = run.train_step(state, {k: run.to_global(v) for k, v in batch.items()})
        assert bool(m["finite"])
    probs = run.probs(state, list(batch["wave"][:3]))
    assert probs.shape == (3, 8)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)


def test_design_card_command_trains_end_to_end(wavlm_checkpoint, tiny_corpus, tmp_path):
    config = load_config("wav2vec2_q2l", wavlm_checkpoint)
    config.data.clip_seconds, config.train.batch_size = 0.25, 16  # 200 frames of the tiny WavLM
    config.data.corpus, config.data.root = "ravdess", str(tiny_corpus)
    config.data.fold_size, config.data.val_speakers = 2, 1
    config.train.num_epochs, config.train.progress_bar = 1, False
    results = loop.train_and_evaluate(config, tmp_path)
    assert results["model"]["init"] == "pretrained"
    assert results["epochs_run"] == 1 and np.isfinite(results["history"][0]["train_loss"])
    assert (
        sum(sum(row) for row in results["test"]["confusion_matrix"]) == results["data"]["num_test"]
    )


def test_extracted_features_train_a_frame_model(tiny_corpus, tmp_path):
    checkpoint = tmp_path / "wav2vec2_large_style"  # layer-norm features: exact under padding
    torch_model("wav2vec2_large", conv_kernel=(10, 4, 4), conv_stride=(5, 4, 4)).save_pretrained(
        checkpoint
    )  # 200 frames per second
    config = load_config("wav2vec2_base_cls", checkpoint)
    config.data.corpus, config.data.root = "ravdess", str(tiny_corpus)
    meta = extract.extract(config, tmp_path / "feats", layer="1")
    assert meta["num_utterances"] == 480 and meta["dim"] == 32 and meta["frame_rate"] == 200

    # frames equal the encoder's layer-1 output on the unpadded utterance (float16 storage)
    utterance = load.read_utterances(config)[7]
    wave = cache.decode([utterance], config.data).waves[utterance.path]
    with np.load(tmp_path / "feats" / "features.npz") as z:
        i = list(z["paths"]).index(utterance.path)
        stored = z["frames"][z["offsets"][i] : z["offsets"][i + 1]].astype(np.float32)
    encoder_config, params = hf_checkpoint.load(checkpoint)
    normalized = (wave - wave.mean()) / np.sqrt(wave.var() + 1e-5)
    expected = Encoder(encoder_config).apply({"params": params}, normalized[None])["hidden_states"][
        1
    ][0]
    np.testing.assert_allclose(stored, expected, atol=2e-2, rtol=1e-2)

    frame_model = tiny_config.get_config()
    with frame_model.unlocked():
        frame_model.model = ml_collections.ConfigDict(
            dict(name="lstm_dense", init="random", hidden=32, dense=(32, 16))
        )
    frame_model.data.corpus, frame_model.data.root = "ravdess", str(tiny_corpus)
    frame_model.data.precomputed, frame_model.features.name = str(tmp_path / "feats"), "precomputed"
    frame_model.data.clip_seconds = 0.5  # 100 frames
    frame_model.train.num_epochs, frame_model.train.progress_bar = 2, False
    results = loop.train_and_evaluate(frame_model, tmp_path / "run")
    assert results["data"]["num_train"] == 300 and results["data"]["bad_files"]["count"] == 0
    assert all(np.isfinite(h["train_loss"]) for h in results["history"])
