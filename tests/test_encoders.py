"""The Flax wav2vec 2.0 / HuBERT / WavLM encoder against transformers' PyTorch models.

Tiny random models of every variant are saved by transformers and loaded by hf_checkpoint; every
hidden state must match PyTorch's to 1e-4, with and without a padded example in the batch.
"""

import dataclasses
import functools

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_ser.models.pretrained import hf_checkpoint, wav2vec2

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            conv_dim=(32, 32, 32), conv_kernel=(10, 3, 3), conv_stride=(5, 2, 2),
            num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
LARGE_STYLE = dict(feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True)
WAVLM_BUCKETS = dict(num_buckets=32, max_bucket_distance=64)
VARIANTS = {
    "wav2vec2_base": ("Wav2Vec2", {}),
    "wav2vec2_large": ("Wav2Vec2", LARGE_STYLE),
    "hubert_base": ("Hubert", dict(feat_proj_layer_norm=False)),
    "hubert_large": ("Hubert", LARGE_STYLE),
    "wavlm_base": ("WavLM", WAVLM_BUCKETS),
    "wavlm_large": ("WavLM", {**WAVLM_BUCKETS, **LARGE_STYLE}),
}
NUM_SAMPLES = 4000
VALID = 2400  # the second example's last 40% is padding


def torch_model(variant: str, **overrides):
    family, extra = VARIANTS[variant]
    config = getattr(transformers, f"{family}Config")(**{**TINY, **extra, **overrides})
    torch.manual_seed(0)
    return getattr(transformers, f"{family}Model")(config).eval()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """variant -> (PyTorch model, directory it was saved to with save_pretrained), built once."""
    cache = {}

    def get(variant: str):
        if variant not in cache:
            model = torch_model(variant)
            directory = tmp_path_factory.mktemp(variant)
            model.save_pretrained(directory)
            cache[variant] = model, directory
        return cache[variant]

    return get


@pytest.fixture(scope="module")
def batch():
    waves = np.random.default_rng(0).standard_normal((2, NUM_SAMPLES)).astype(np.float32)
    waves[1, VALID:] = 0.0
    mask = np.ones((2, NUM_SAMPLES), bool)
    mask[1, VALID:] = False
    return waves, mask


def reference(model, waves, mask):
    """PyTorch hidden states, last state, extract_features and frame mask as numpy."""
    with torch.no_grad():
        x = torch.from_numpy(waves)
        am = None if mask is None else torch.from_numpy(mask).long()
        out = model(x, attention_mask=am, output_hidden_states=True)
        features = getattr(out, "extract_features", None)
        if features is None:  # HubertModel returns none: the projection's input is the same thing
            features = model.feature_extractor(x).transpose(1, 2)
            if model.config.feat_proj_layer_norm:
                features = model.feature_projection.layer_norm(features)
        frames = out.last_hidden_state.shape[1]
        frame_mask = (np.ones((2, frames), bool) if am is None
                      else model._get_feature_vector_attention_mask(frames, am).numpy())
    return ([h.numpy() for h in out.hidden_states], out.last_hidden_state.numpy(),
            features.numpy(), frame_mask)


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")  # HF's WavLM
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_matches_pytorch(variant, checkpoint, batch):
    model, directory = checkpoint(variant)
    config, params = hf_checkpoint.load(directory)
    assert config.model_type == model.config.model_type
    encoder = wav2vec2.Encoder(config)
    waves, sample_mask = batch
    for mask in (None, sample_mask):
        hidden_states, last, features, frame_mask = reference(model, waves, mask)
        out = encoder.apply({"params": params}, waves, mask)
        assert len(out["hidden_states"]) == TINY["num_hidden_layers"] + 1 == len(hidden_states)
        for ours, theirs in zip(out["hidden_states"], hidden_states):
            np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4)
        np.testing.assert_allclose(out["last_hidden_state"], last, rtol=0, atol=1e-4)
        np.testing.assert_allclose(out["extract_features"], features, rtol=0, atol=1e-4)
        np.testing.assert_array_equal(out["frame_mask"], frame_mask)
    # (4000 - 10) // 5 + 1 = 799 -> 399 -> 199 frames; 2400 valid samples -> 119 valid frames.
    assert out["last_hidden_state"].shape == (2, 199, 32)
    assert out["frame_mask"].sum(-1).tolist() == [199, 119]


def test_padding_changes_nothing_only_with_layer_norm_features(checkpoint, batch):
    """With a mask, a padded clip's valid frames equal the clip alone, except in group-norm
    (base) models: their first conv's GroupNorm averages over the padding, in HF as here."""
    waves, mask = batch
    for variant, invariant in (("wav2vec2_large", True), ("wav2vec2_base", False)):
        config, params = hf_checkpoint.load(checkpoint(variant)[1])
        encoder = wav2vec2.Encoder(config)
        padded = encoder.apply({"params": params}, waves, mask)["last_hidden_state"][1, :119]
        alone = encoder.apply({"params": params}, waves[1:, :VALID])["last_hidden_state"][0]
        assert alone.shape == padded.shape
        assert (np.abs(padded - alone).max() < 1e-5) == invariant


def test_pytorch_bin_with_legacy_weight_norm_names(checkpoint, tmp_path):
    """Older checkpoints: pickled state dict, position conv as weight_g/weight_v."""
    model, directory = checkpoint("wav2vec2_large")
    state_dict = {key.replace("parametrizations.weight.original0", "weight_g")
                  .replace("parametrizations.weight.original1", "weight_v"): value
                  for key, value in model.state_dict().items()}
    assert "encoder.pos_conv_embed.conv.weight_g" in state_dict
    torch.save(state_dict, tmp_path / "pytorch_model.bin")
    model.config.save_pretrained(tmp_path)
    _, from_bin = hf_checkpoint.load(tmp_path)
    _, from_safetensors = hf_checkpoint.load(directory)
    jax.tree.map(np.testing.assert_array_equal, from_bin, from_safetensors)


def test_missing_checkpoint_names_path_and_remedy(tmp_path):
    with pytest.raises(FileNotFoundError, match="huggingface-cli download") as error:
        hf_checkpoint.load(tmp_path / "absent")
    assert str(tmp_path / "absent") in str(error.value)
    with pytest.raises(FileNotFoundError, match="config.json"):
        hf_checkpoint.load(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "wav2vec2"}')
    with pytest.raises(FileNotFoundError, match="no model.safetensors"):
        hf_checkpoint.load(tmp_path)


def test_state_dict_names_heads_and_errors(checkpoint):
    model, _ = checkpoint("wavlm_base")
    config = wav2vec2.EncoderConfig.from_hf(model.config.to_dict())
    state_dict = {key: value.numpy() for key, value in model.state_dict().items()}
    params = hf_checkpoint.convert_state_dict(state_dict, config)
    # A *ForSequenceClassification checkpoint: prefixed encoder plus heads to ignore.
    classifier = {f"wavlm.{key}": value for key, value in state_dict.items()}
    classifier.update({"projector.weight": np.zeros((4, 32)), "classifier.bias": np.zeros(2),
                       "layer_weights": np.ones(3)})
    jax.tree.map(np.testing.assert_array_equal,
                 hf_checkpoint.convert_state_dict(classifier, config), params)
    absent = dict(state_dict)
    del absent["encoder.layers.1.attention.gru_rel_pos_const"]
    with pytest.raises(ValueError, match="missing.*layers_1/attention/gru_rel_pos_const"):
        hf_checkpoint.convert_state_dict(absent, config)
    with pytest.raises(ValueError, match="unexpected.*encoder.adapter.weight"):
        hf_checkpoint.convert_state_dict({**state_dict, "encoder.adapter.weight": np.ones(3)},
                                         config)
    wrong = {**state_dict, "feature_projection.projection.weight": np.ones((32, 31))}
    with pytest.raises(ValueError, match="shape mismatch.*feature_projection"):
        hf_checkpoint.convert_state_dict(wrong, config)
    with pytest.raises(ValueError, match="add_adapter"):
        wav2vec2.EncoderConfig.from_hf({**model.config.to_dict(), "add_adapter": True})


def test_bfloat16_compute_stays_close(checkpoint, batch):
    _, directory = checkpoint("wav2vec2_large")
    config, params = hf_checkpoint.load(directory)
    waves, mask = batch
    full = wav2vec2.Encoder(config).apply({"params": params}, waves, mask)
    half = wav2vec2.Encoder(config, dtype=jnp.bfloat16).apply({"params": params}, waves, mask)
    assert half["last_hidden_state"].dtype == jnp.bfloat16
    error = np.abs(np.asarray(half["last_hidden_state"], np.float32) - full["last_hidden_state"])
    assert error.mean() < 0.02 and error.max() < 0.2  # measured 0.008 and 0.08


def test_remat_gives_identical_outputs_and_gradients(checkpoint, batch):
    _, directory = checkpoint("wavlm_base")
    config, params = hf_checkpoint.load(directory)
    waves, mask = (x[:, :2000] for x in batch)

    @functools.partial(jax.jit, static_argnums=2)
    @functools.partial(jax.value_and_grad, has_aux=True)
    def loss(transformer, params, remat):  # remat only wraps the Transformer layers
        variables = {"params": {**params, "encoder": transformer}}
        out = wav2vec2.Encoder(config, remat=remat).apply(variables, waves, mask)
        return jnp.sum(out["last_hidden_state"] ** 2), out

    (_, plain), plain_grads = loss(params["encoder"], params, False)
    (_, remat), remat_grads = loss(params["encoder"], params, True)
    jax.tree.map(np.testing.assert_array_equal, remat, plain)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                 remat_grads, plain_grads)


def test_span_mask_follows_hf_statistics():
    from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices

    lengths = np.array([100, 60, 7])
    frame_mask = np.arange(100)[None, :] < lengths[:, None]
    draw = jax.jit(jax.vmap(lambda key: wav2vec2.span_mask(key, (3, 100), 0.5, 5, 2,
                                                          jnp.asarray(lengths))))
    ours = np.asarray(draw(jax.random.split(jax.random.key(0), 200)))
    np.random.seed(0)
    theirs = np.stack([_compute_mask_indices((3, 100), 0.5, 5, torch.from_numpy(frame_mask), 2)
                       for _ in range(200)])
    assert not ours[:, ~frame_mask].any()
    np.testing.assert_allclose(ours.mean((0, 2)), theirs.mean((0, 2)), atol=0.02)
    assert ours[:, 2].sum(-1).min() >= 5  # min_masks=2 spans of 5 inside 7 frames
    edges = np.diff(np.pad(ours, ((0, 0), (0, 0), (1, 1))).astype(int), axis=-1)
    runs = np.argwhere(edges == -1)[:, -1] - np.argwhere(edges == 1)[:, -1]
    assert runs.min() >= 5  # masked runs are whole spans


def test_spec_augment_puts_masked_spec_embed_and_zero_features():
    config = wav2vec2.EncoderConfig(hidden_size=32, num_attention_heads=4, mask_time_prob=0.5,
                                    mask_time_length=5,
                                    mask_feature_prob=0.25, mask_feature_length=4)
    hidden = jax.random.normal(jax.random.key(1), (2, 50, 32))
    embed = jnp.arange(32.0) + 100.0
    augment = jax.jit(wav2vec2.spec_augment, static_argnums=3)
    masked, time_mask = augment(jax.random.key(2), hidden, embed, config)
    masked, time_mask = np.asarray(masked), np.asarray(time_mask)
    zero_columns = (masked == 0).all(axis=1)  # [B, D] features zeroed in every frame
    assert time_mask.any(-1).all() and zero_columns.any(-1).all() and not zero_columns.all()
    expected = np.where(time_mask[..., None], np.asarray(embed), np.asarray(hidden))
    np.testing.assert_array_equal(masked, np.where(zero_columns[:, None, :], 0.0, expected))


def test_training_mode_masks_time_spans_and_drops_layers(checkpoint, batch):
    _, directory = checkpoint("wav2vec2_base")
    config, params = hf_checkpoint.load(directory)
    assert config.mask_time_prob > 0 and "masked_spec_embed" in params
    # Dropout off, so SpecAugment is the only randomness in training mode.
    config = dataclasses.replace(config, hidden_dropout=0.0, activation_dropout=0.0,
                                 attention_dropout=0.0, layerdrop=0.0)
    waves, mask = batch
    encoder = wav2vec2.Encoder(config)
    eval_out = encoder.apply({"params": params}, waves, mask)["last_hidden_state"]

    def train(rngs, encoder=encoder):
        return encoder.apply({"params": params}, waves, mask, train=True, rngs=rngs)

    first = train({"mask": jax.random.key(1)})["last_hidden_state"]
    np.testing.assert_array_equal(first, train({"mask": jax.random.key(1)})["last_hidden_state"])
    assert np.abs(first - eval_out).mean() > 1e-2
    second = train({"mask": jax.random.key(2)})["last_hidden_state"]
    assert np.abs(first - second).mean() > 1e-3
    with pytest.raises(flax.errors.InvalidRngError, match="mask"):
        train({})
    # LayerDrop 1: every layer skipped in training, so every hidden state is the first one.
    no_layers = wav2vec2.Encoder(dataclasses.replace(config, layerdrop=1.0))
    out = train({"mask": jax.random.key(1), "dropout": jax.random.key(0)}, no_layers)
    for hidden in out["hidden_states"][1:] + (out["last_hidden_state"],):
        np.testing.assert_array_equal(hidden, out["hidden_states"][0])


@pytest.mark.parametrize("family", ["Wav2Vec2", "Hubert", "WavLM"])
def test_base_sizes_match_hf(family):
    """Full-size base configs: same parameter count as HF's (wav2vec2-base 94.4M), 50 frames/s."""
    hf_config = getattr(transformers, f"{family}Config")()
    with torch.device("meta"):
        hf_count = sum(p.numel() for p in getattr(transformers, f"{family}Model")(hf_config)
                       .parameters())
    config = wav2vec2.EncoderConfig.from_hf(hf_config.to_dict())
    out, variables = jax.eval_shape(
        wav2vec2.Encoder(config).init_with_output, jax.random.key(0),
        jax.ShapeDtypeStruct((1, 16000), jnp.float32))
    assert sum(x.size for x in jax.tree.leaves(variables)) == hf_count
    assert out["last_hidden_state"].shape == (1, 49, 768)
    assert out["extract_features"].shape == (1, 49, 512)


def test_hub_failure_is_file_not_found(monkeypatch):
    """A name that is no directory but looks like org/model goes to the hub; failures explain."""
    huggingface_hub = pytest.importorskip("huggingface_hub")

    def offline(repo_id, **kwargs):
        raise huggingface_hub.errors.LocalEntryNotFoundError(f"{repo_id} not in cache")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(FileNotFoundError, match="cannot download facebook/wav2vec2-base from the "
                       "Hugging Face hub \\(no network\\?\\).*--config.model.checkpoint="):
        hf_checkpoint.load("facebook/wav2vec2-base")
