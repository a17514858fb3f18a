"""A self-supervised speech encoder (wav2vec 2.0, HuBERT or WavLM) with an emotion head.

`checkpoint` names the encoder: a local Hugging Face directory or a hub id, whose config.json picks
the variant. `init=pretrained` loads its weights; `init=random` trains the same architecture from
scratch (the built-in presets below give it for the usual hub ids without any download). The head
reads one hidden layer, or the SUPERB-style softmax-weighted sum of all of them. Fine-tuning
controls (frozen parts, layer-wise learning-rate decay, an encoder learning-rate factor) become
per-parameter learning-rate factors through `lr_scales`; frozen parts also stop gradients so their
backward pass is not computed.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import traverse_util

from jax_ser.models import heads
from jax_ser.models.pretrained import hf_checkpoint
from jax_ser.models.pretrained.wav2vec2 import Encoder, EncoderConfig

_BASE = dict(
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    feat_extract_norm="group",
    do_stable_layer_norm=False,
    conv_bias=False,
)
_LARGE = dict(
    hidden_size=1024,
    num_hidden_layers=24,
    num_attention_heads=16,
    intermediate_size=4096,
    feat_extract_norm="layer",
    do_stable_layer_norm=True,
    conv_bias=True,
)
# Architectures of the usual checkpoints (their config.json), for init=random without a download.
PRESETS = {
    "facebook/wav2vec2-base": dict(_BASE, model_type="wav2vec2"),
    "facebook/wav2vec2-large-robust": dict(_LARGE, model_type="wav2vec2"),
    "facebook/hubert-base-ls960": dict(_BASE, model_type="hubert", feat_proj_layer_norm=False),
    "facebook/hubert-large-ll60k": dict(_LARGE, model_type="hubert"),
    "microsoft/wavlm-base-plus": dict(_BASE, model_type="wavlm"),
    "microsoft/wavlm-large": dict(_LARGE, model_type="wavlm", conv_bias=False),
}


@functools.lru_cache(maxsize=None)
def encoder_config(checkpoint: str) -> EncoderConfig:
    """The checkpoint's own config.json where it is a local directory, else the built-in preset,
    else the hub's config.json (needs a network)."""
    path = os.path.expanduser(checkpoint)
    if not os.path.isdir(path) and checkpoint in PRESETS:
        return EncoderConfig.from_hf(PRESETS[checkpoint])
    return hf_checkpoint.load_config(path)


class Model(nn.Module):
    """Waveform [B, N, 1] (features.name = "waveform") -> encoder -> hidden layer(s) -> head."""

    num_classes: int
    checkpoint: str = "facebook/wav2vec2-base"
    head: str = "linear"  # linear | mlp | attentive_stats | q2l (jax_ser.models.heads)
    head_options: Any = None  # keyword arguments of the head, e.g. {"hidden": (256,)}
    layer: int = -1  # hidden state the head reads: 0 = CNN projection, k = output of layer k
    weighted_layers: bool = False  # SUPERB: learnable softmax-weighted sum of all hidden states
    freeze_feature_encoder: bool = True
    freeze_encoder: bool = False  # linear probing: only the head (and layer weights) train
    freeze_layers: int = 0  # also freeze the first N transformer layers
    layer_lr_decay: float = 1.0  # learning rate x decay^(layers above); 1 = no decay
    encoder_lr_scale: float = 1.0  # encoder learning rate = this x the head's
    mask_time_prob: float = -1.0  # fine-tuning SpecAugment on frames; -1 = the checkpoint's
    layerdrop: float = -1.0  # -1 = the checkpoint's
    remat: bool = False  # recompute layers in the backward pass (less memory, more compute)
    dtype: str = "float32"  # compute dtype: float32 | bfloat16 (parameters stay float32)

    def encoder_config(self) -> EncoderConfig:
        config = encoder_config(self.checkpoint)
        overrides = {
            k: v
            for k, v in (("mask_time_prob", self.mask_time_prob), ("layerdrop", self.layerdrop))
            if v >= 0
        }
        return dataclasses.replace(config, **overrides)

    @nn.compact
    def __call__(self, feats, train: bool = False):
        config = self.encoder_config()
        out = Encoder(
            config,
            dtype=jnp.dtype(self.dtype),
            remat=self.remat,
            freeze_feature_encoder=self.freeze_feature_encoder,
            name="encoder",
        )(feats[..., 0], train=train and not self.freeze_encoder)
        hidden = out["hidden_states"]
        if self.weighted_layers:
            weights = self.param("layer_weights", nn.initializers.zeros, (len(hidden),))
            frames = jnp.einsum(
                "l,lbtd->btd", jax.nn.softmax(weights), jnp.stack(hidden).astype(jnp.float32)
            )
        else:
            frames = hidden[self.layer].astype(jnp.float32)
        if self.freeze_encoder:
            frames = jax.lax.stop_gradient(frames)
        head = heads.build_head(
            self.head, self.num_classes, name="head", **dict(self.head_options or {})
        )
        return head(frames, out["frame_mask"], train=train)


def load_pretrained(variables: dict, model_config) -> dict:
    """The checkpoint's encoder weights into `variables`; the head keeps its fresh init."""
    _, loaded = hf_checkpoint.load(model_config.checkpoint)
    loaded = traverse_util.flatten_dict(loaded, sep="/")
    params = traverse_util.flatten_dict(variables["params"], sep="/")
    missing, wrong = [], []
    for key, value in params.items():
        if not key.startswith("encoder/"):
            continue
        source = loaded.get(key.removeprefix("encoder/"))
        if source is None:
            # A time-mask vector the checkpoint never trained (mask_time_prob raised from 0).
            if not key.endswith("masked_spec_embed"):
                missing.append(key)
        elif source.shape != value.shape:
            wrong.append(f"{key} {source.shape} vs {value.shape}")
        else:
            params[key] = jnp.asarray(source, value.dtype)
    if missing or wrong:
        raise ValueError(
            f"checkpoint {model_config.checkpoint} does not fit the model: missing "
            f"{missing[:5]}, wrong shapes {wrong[:5]}"
        )
    return {**variables, "params": traverse_util.unflatten_dict(params, sep="/")}


def lr_scales(params, model_config):
    """Per-parameter learning-rate factors: 0 where frozen, the encoder factor times layer-wise
    decay inside the encoder, 1 for the head; None when every factor is 1."""
    num_layers = sum(1 for k in params["encoder"]["encoder"] if k.startswith("layers_"))
    freeze_all, freeze_layers = model_config.freeze_encoder, model_config.freeze_layers
    freeze_cnn = model_config.freeze_feature_encoder or freeze_layers > 0

    def scale(path, _):
        keys = [getattr(p, "key", str(p)) for p in path]
        if keys[0] != "encoder":
            return 1.0
        if freeze_all or (keys[1] == "feature_extractor" and freeze_cnn):
            return 0.0
        layer = next(
            (int(m.group(1)) + 1 for k in keys if (m := re.fullmatch(r"layers_(\d+)", k))), 0
        )  # 0: below the transformer layers
        if layer <= freeze_layers and freeze_layers > 0:
            return 0.0
        return model_config.encoder_lr_scale * model_config.layer_lr_decay ** (num_layers - layer)

    scales = jax.tree_util.tree_map_with_path(scale, params)
    return None if all(s == 1.0 for s in jax.tree.leaves(scales)) else scales
