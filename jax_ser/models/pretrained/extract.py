"""Frame-level features of a speech encoder for every utterance, written once for models that train
on them (data.precomputed). `python -m jax_ser.extract_features` runs through here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import numpy as np
import tqdm

from jax_ser import config as config_lib
from jax_ser import errors
from jax_ser.data import load
from jax_ser.evaluate import runner
from jax_ser.models.pretrained.wav2vec2 import Encoder, feat_extract_output_lengths


def extract(config, output: str | Path, layer: str = "-1") -> dict:
    config_lib.validate(config)
    if config.model.name != "wav2vec2":
        raise errors.ConfigError(
            f"config.model.name: {config.model.name!r} is not an encoder "
            "(extract_features needs model.name=wav2vec2)"
        )
    run = runner.Runner(config)
    params = run.init().params["encoder"]
    encoder_config = run.model.encoder_config()
    if layer != "cnn" and not (
        layer.lstrip("-").isdigit()
        and -encoder_config.num_hidden_layers - 1 <= int(layer) <= encoder_config.num_hidden_layers
    ):
        raise errors.ConfigError(
            f"--layer={layer}: give cnn or a layer in [-1, {encoder_config.num_hidden_layers}]"
        )
    encoder = Encoder(encoder_config)
    if config.features.name != "waveform":
        raise errors.ConfigError("config.features.name must be waveform for an encoder")

    @jax.jit
    def encode(params, wave, mask):
        out = encoder.apply({"params": params}, wave, attention_mask=mask)
        return out["extract_features"] if layer == "cnn" else out["hidden_states"][int(layer)]

    utterances = load.read_utterances(config)
    decoded = load.decode(config, utterances)
    second = config.data.sample_rate
    paths, chunks = [], []
    for u in tqdm.tqdm(utterances, desc="encoding", disable=not sys.stderr.isatty()):
        wave = decoded.waves.get(u.path)
        if wave is None:
            continue
        if config.features.normalize != "none":  # as features.normalize, over the utterance only
            wave = (wave - wave.mean()) / np.sqrt(wave.var() + 1e-5)
        padded = np.zeros(-(-len(wave) // second) * second, np.float32)  # whole seconds: few shapes
        padded[: len(wave)] = wave
        frames = int(feat_extract_output_lengths(len(wave), encoder_config))
        mask = np.arange(len(padded)) < len(wave)  # padding unseen by attention and position conv
        chunks.append(
            np.asarray(encode(params, padded[None], mask[None]))[0, :frames].astype(np.float16)
        )
        paths.append(u.path)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    lengths = np.array([len(c) for c in chunks])
    np.savez(
        output / "features.npz",
        frames=np.concatenate(chunks),
        offsets=np.concatenate([[0], np.cumsum(lengths)]),
        paths=np.array(paths, dtype=str),
    )
    stride = int(np.prod(encoder_config.conv_stride))
    meta = {
        "dim": int(chunks[0].shape[-1]),
        "frame_rate": config.data.sample_rate / stride,
        "layer": layer,
        "checkpoint": config.model.checkpoint,
        "init": config.model.init,
        "corpus": config.data.corpus,
        "num_utterances": len(paths),
        "skipped": decoded.bad,
    }
    (output / "meta.json").write_text(json.dumps(meta, indent=2))
    return meta
