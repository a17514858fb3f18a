"""Hugging Face wav2vec 2.0 / HuBERT / WavLM checkpoints as params of `wav2vec2.Encoder`.

Reads a directory in Hugging Face layout (config.json with model.safetensors, sharded
safetensors or a legacy pytorch_model.bin), downloading it first when given a hub id, and renames
the PyTorch state dict into the Flax tree: Linear weights transposed, Conv1d weights to
[kernel, in, out], norm weights to `scale`, and the position conv's weight norm under either of
its names (weight_g/weight_v, or parametrizations.weight.original0/1 from torch's newer
weight_norm). Heads around the encoder (CTC, classifier, quantizer, ...) are dropped; every
other name must match, so a wrong architecture fails loudly instead of loading half a model.
"""

import json
import os
import pickle
import re

import jax
import jax.numpy as jnp
import numpy as np
import safetensors
import safetensors.numpy
from flax import traverse_util

from jax_ser.models.pretrained.wav2vec2 import Encoder, EncoderConfig

BASE_PREFIXES = ("wav2vec2.", "hubert.", "wavlm.")
# Parts of pretraining and fine-tuning models that sit beside the encoder in a bare checkpoint.
HEADS = ("lm_head.", "projector.", "classifier.", "quantizer.", "project_q.", "project_hid.",
         "layer_weights", "final_proj.", "label_embs_concat", "tdnn.", "objective.")
SAFETENSORS = ("model.safetensors", "model.safetensors.index.json")
PICKLES = ("pytorch_model.bin", "pytorch_model.bin.index.json")
_HUB_ID = re.compile(r"^[\w][\w.-]*/[\w.-]+$")


def _missing(path: str, reason: str) -> str:
    return (f"no usable Hugging Face checkpoint at {path!r} ({reason}); it needs config.json and "
            "model.safetensors or pytorch_model.bin, e.g. from `hf download "
            f"facebook/wav2vec2-base --local-dir {path}` (`huggingface-cli download` before "
            "huggingface_hub 1.0) or a hub id on a machine with internet")


def _not_downloaded(repo_id: str, reason: str) -> str:
    local = f"/models/{repo_id.rsplit('/', 1)[-1]}"
    return (f"cannot download {repo_id} from the Hugging Face hub ({reason}): put a local copy on "
            f"this machine (`hf download {repo_id} --local-dir {local}` where there is a network) "
            f"and pass --config.model.checkpoint={local} (docs/pretrained.md), or train from "
            "scratch with --config.model.init=random")


def load(path_or_hub_id: str | os.PathLike) -> tuple[EncoderConfig, dict]:
    """(EncoderConfig, params) from a local checkpoint directory, or a hub id that is not one.

    Params are host numpy float32 arrays, to be placed on devices by the caller.
    """
    directory = _directory(os.path.expanduser(os.fspath(path_or_hub_id)))
    config = _read_config(directory)
    return config, convert_state_dict(_read_weights(directory), config)


def fetch(path_or_hub_id: str | os.PathLike) -> str:
    """The checkpoint's local directory: the path itself, or a hub id's snapshot, downloaded now
    or found in the hub's cache. Training calls it before loading its data, so a machine without
    a network hears so at once, not after minutes of decoding audio."""
    return _directory(os.path.expanduser(os.fspath(path_or_hub_id)))


def prefetch(model_config) -> None:
    """fetch() the checkpoint a config's speech encoder starts from (model.name wav2vec2, which
    HuBERT and WavLM share, with model.init pretrained); other configs need nothing."""
    if model_config.get("name") == "wav2vec2" and model_config.get("init") == "pretrained":
        fetch(model_config.checkpoint)


def load_config(path_or_hub_id: str | os.PathLike) -> EncoderConfig:
    """The architecture alone, from the checkpoint's config.json (no weights read)."""
    return _read_config(_directory(os.path.expanduser(os.fspath(path_or_hub_id))))


def _read_config(directory: str) -> EncoderConfig:
    try:
        with open(os.path.join(directory, "config.json")) as f:
            hf_config = json.load(f)
    except (OSError, ValueError) as error:
        raise FileNotFoundError(_missing(directory, f"config.json unreadable: {error}")) from error
    return EncoderConfig.from_hf(hf_config)


def _directory(path: str) -> str:
    if os.path.isdir(path):
        return path
    if os.path.exists(path) or not _HUB_ID.match(path):
        raise FileNotFoundError(_missing(path, "not a directory"))
    return _download(path)


def _download(repo_id: str) -> str:
    """Snapshot of the config and weights only, preferring safetensors over the pickle."""
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError as error:
        raise FileNotFoundError(_not_downloaded(repo_id, "huggingface_hub is not installed: "
                                                         "pip install huggingface_hub")) from error
    try:
        directory = snapshot_download(repo_id, allow_patterns=[
            "config.json", "model.safetensors", "model-*.safetensors", SAFETENSORS[1]])
        if not any(os.path.exists(os.path.join(directory, name)) for name in SAFETENSORS):
            directory = snapshot_download(repo_id, allow_patterns=[
                "config.json", "pytorch_model.bin", "pytorch_model-*.bin", PICKLES[1]])
    except (LocalEntryNotFoundError, ConnectionError) as error:  # offline, and not in the cache
        raise FileNotFoundError(_not_downloaded(repo_id, "no network?")) from error
    except (OSError, ValueError) as error:  # e.g. no such repository
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise FileNotFoundError(_not_downloaded(repo_id, reason)) from error
    return directory


def _read_weights(directory: str) -> dict[str, np.ndarray]:
    """State dict of the first weight format present: safetensors, then torch pickle."""
    for names, read in ((SAFETENSORS, safetensors.numpy.load_file), (PICKLES, _read_pickle)):
        single, index = (os.path.join(directory, name) for name in names)
        if os.path.exists(single):
            files = [single]
        elif os.path.exists(index):
            with open(index) as f:
                shards = sorted(set(json.load(f)["weight_map"].values()))
            files = [os.path.join(directory, shard) for shard in shards]
        else:
            continue
        state_dict = {}
        for file in files:
            try:
                state_dict.update(read(file))
            except (OSError, ValueError, RuntimeError, pickle.UnpicklingError,
                    safetensors.SafetensorError) as error:
                raise FileNotFoundError(_missing(file, f"unreadable: {error}")) from error
        return state_dict
    raise FileNotFoundError(_missing(directory, "no model.safetensors or pytorch_model.bin"))


def _read_pickle(path: str) -> dict[str, np.ndarray]:
    try:
        import torch
    except ImportError as error:
        raise ImportError(f"{path} is a PyTorch pickle and reading it needs torch (pip install "
                          "torch), or a model.safetensors copy of the checkpoint") from error
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    return {key: value.detach().to(torch.float32).numpy() for key, value in state_dict.items()}


def _encoder_entries(state_dict: dict) -> dict:
    """The encoder's own entries, without the base-model prefix of *For... checkpoints."""
    for prefix in BASE_PREFIXES:
        if any(key.startswith(prefix) for key in state_dict):
            return {key[len(prefix):]: value for key, value in state_dict.items()
                    if key.startswith(prefix)}
    return {key: value for key, value in state_dict.items() if not key.startswith(HEADS)}


def _flax_entry(key: str, value: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """PyTorch name and tensor -> Flax path and array."""
    key = key.replace("parametrizations.weight.original0", "weight_g")
    key = key.replace("parametrizations.weight.original1", "weight_v")
    key = re.sub(r"\b(conv_layers|layers)\.(\d+)\b", r"\1_\2", key)
    *path, leaf = key.split(".")
    value = np.asarray(value, np.float32)
    if leaf in ("weight_g", "weight_v"):
        return (*path, leaf), value.transpose(2, 1, 0)
    if leaf != "weight":
        return (*path, leaf), value
    if path[-1:] == ["rel_attn_embed"]:
        return (*path, "embedding"), value
    if value.ndim == 1:
        return (*path, "scale"), value
    return (*path, "kernel"), value.T if value.ndim == 2 else value.transpose(2, 1, 0)


def _min_samples(config: EncoderConfig) -> int:
    """The receptive field of one output frame, in samples."""
    length = 1
    for kernel, stride in zip(reversed(config.conv_kernel), reversed(config.conv_stride)):
        length = (length - 1) * stride + kernel
    return length


def convert_state_dict(state_dict: dict[str, np.ndarray], config: EncoderConfig) -> dict:
    """HF state dict (any of the checkpoints' naming variants) -> Encoder params.

    Unknown, missing or misshapen entries raise ValueError naming a few. A missing
    masked_spec_embed (a training-only vector) is drawn from U[0, 1) as HF initialises it.
    """
    model = Encoder(config)
    shapes = jax.eval_shape(model.init, jax.random.key(0),
                            jnp.zeros((1, _min_samples(config)), jnp.float32))["params"]
    expected = traverse_util.flatten_dict(shapes)
    params, unexpected, misshapen = {}, [], []
    for key, value in _encoder_entries(state_dict).items():
        path, array = _flax_entry(key, value)
        if path not in expected:
            if path != ("masked_spec_embed",):  # present in checkpoints of configs without it
                unexpected.append(key)
        elif array.shape != expected[path].shape:
            misshapen.append(f"{key} {array.shape} != {expected[path].shape}")
        else:
            params[path] = array
    if ("masked_spec_embed",) in expected and ("masked_spec_embed",) not in params:
        params[("masked_spec_embed",)] = np.random.default_rng(0).uniform(
            size=config.hidden_size).astype(np.float32)
    missing = ["/".join(path) for path in expected if path not in params]
    problems = [f"{what} ({len(items)}): {', '.join(items[:5])}"
                for what, items in (("unexpected", unexpected), ("missing", missing),
                                    ("shape mismatch", misshapen)) if items]
    if problems:
        raise ValueError(f"checkpoint does not fit the {config.model_type} encoder its config "
                         f"describes; " + "; ".join(problems))
    return traverse_util.unflatten_dict(params)
