"""The config schema every experiment shares, and the checks run before any work.

Config files in `configs/` start from `base_config()` and set what differs. The ConfigDict is
locked, so a mistyped override (`--config.train.lerning_rate=...`) is refused by ml_collections
before anything runs, and `validate` rejects values that are well-typed but meaningless.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import re
import typing
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections

SCHEDULES = ("constant", "warmup_cosine", "exponential")
SPLIT_FORMS = r"fold:\d+|loso:.+|session:\d+|emobox:[1-6]|random|final"
HUB_ID = re.compile(
    r"[\w-]+/[\w.-]+"
)  # e.g. facebook/wav2vec2-base, fetched where there is network


class ConfigError(ValueError):
    """A config value that cannot run; the message names the key."""


def base_config(model: dict) -> ml_collections.ConfigDict:
    """The shared schema; `model` holds `name` (a file in jax_ser/models) and the Model's fields."""
    c = ml_collections.ConfigDict()
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.corpus = "synthetic"  # registry names, comma-separated to combine corpora
    c.data.root = ""  # one root per corpus, same order; "" = built-in cache (synthetic only)
    c.data.task = "ravdess8"  # jax_ser.labels.TASKS; "TASK:class,class" keeps those classes
    c.data.split = "fold:0"  # fold:K | loso:SPEAKER | session:N | emobox:K | random | final
    c.data.fold_size = 4  # speakers per test fold
    c.data.val_speakers = 2  # taken from the training speakers, for model selection
    c.data.allow_random_split = False
    # With several corpora: split only this one into train/val/test and train on all of the
    # others too (e.g. corpus "ravdess,tess", eval_corpus "ravdess"); "" = split them all.
    c.data.eval_corpus = ""
    c.data.sample_rate = 16000
    c.data.clip_seconds = 3.0
    c.data.trim_db = 30.0  # 0 disables silence trimming
    c.data.normalize = True  # peak normalisation
    c.data.eval_crops = 1  # 1 = centre crop; >1 = evenly spaced crops, probabilities averaged
    c.data.max_bad_fraction = 0.05  # stop when more files than this share are unreadable
    c.data.cache_dir = ""  # "" = $JAX_SER_CACHE or ~/.cache/jax_ser
    c.data.num_workers = 2
    c.data.precomputed = (
        ""  # folder of jax_ser.extract_features output, to train on instead of audio
    )

    c.features = ml_collections.ConfigDict()
    c.features.name = "log_mel"
    c.features.sample_rate = c.data.get_ref("sample_rate")
    c.features.n_fft = 512
    c.features.hop_length = 160
    c.features.win_length = 400
    c.features.n_mels = 128
    c.features.n_mfcc = 40
    c.features.fmin = 0.0
    c.features.fmax = 0.0  # 0 = sample_rate / 2
    c.features.top_db = 80.0
    c.features.normalize = "utterance"  # none | utterance | frequency | speaker

    c.model = ml_collections.ConfigDict(
        {"init": "random", **model_defaults(model["name"]), **model}
    )

    c.train = ml_collections.ConfigDict()
    c.train.batch_size = 32  # global, over all devices and hosts
    # Gradient accumulation: each batch_size batch is fed as K micro-batches of batch_size / K and
    # the optimizer updates once with their mean gradient (optax.MultiSteps); the train step, and
    # so the logged step and checkpoint_every_steps, count micro-batches.
    c.train.grad_accum_steps = 1
    # Parameter sharding (FSDP): N > 1 lays the devices out as a (devices / N, N) mesh; arrays of
    # the train state with at least 2**16 elements (parameters, optimizer moments) are split N
    # ways along their largest dimension that N divides, the rest are replicated; the batch is
    # split over all devices. 1 = plain data parallelism, the whole state on every device.
    c.train.fsdp = 1
    c.train.num_epochs = 30
    c.train.optimizer = "adamw"
    c.train.learning_rate = 1e-3
    c.train.weight_decay = 1e-4
    c.train.schedule = "warmup_cosine"
    c.train.warmup_epochs = 1.0
    c.train.decay_rate = 0.95  # per epoch, for the exponential schedule
    c.train.grad_clip_norm = 1.0  # 0 disables
    c.train.loss = "softmax"  # softmax cross-entropy | sigmoid (per-label binary cross-entropy)
    c.train.label_smoothing = 0.0
    c.train.class_weights = False  # inverse-frequency weights from the training labels
    c.train.class_balanced_sampling = False  # draw each class equally often (with replacement)
    # Each training batch holds one speaker's utterances, so BatchNorm normalises each batch with
    # one speaker's statistics, as train.bn_statistics=speaker does at evaluation.
    c.train.speaker_batches = False
    # Evaluate and keep the exponential moving average of the weights (jax_ser/ema.py), e.g.
    # 0.999; 0 = off.
    c.train.ema_decay = 0.0
    c.train.early_stopping_patience = 0  # epochs without validation gain; 0 = never stop early
    # Progressive resizing: (num_epochs, frames_scale, features_scale) stages run first, e.g.
    # ((10, 0.5, 0.5),): the first 10 epochs train on feature maps resized to half the frames
    # and half the channels; the rest of num_epochs, and all evaluation, at the full size.
    # () = off.
    c.train.progressive_resizing = ()
    c.train.select_metric = "ua"  # validation metric that picks the best checkpoint
    # Fit one softmax temperature on the validation speakers' outputs and report the test
    # calibration (NLL, ECE) before and after it; needs val_speakers > 0. Predictions unchanged.
    c.train.temperature_scaling = True
    c.train.checkpoint_every_steps = 0  # 0 = at epoch ends only
    c.train.max_nan_steps = 20  # consecutive non-finite losses before the run stops
    c.train.eval_batch_size = 64
    # BatchNorm statistics at evaluation and prediction: "running" (the averages of training) or
    # "speaker" (each layer's mean and variance over the speaker's own recordings, AdaBN:
    # jax_ser/adabn.py).
    c.train.bn_statistics = "running"
    # With bn_statistics=speaker: Adam steps fitting every BatchNorm scale and bias to each
    # speaker's recordings by information maximisation before their statistics are taken
    # (jax_ser/speaker_im.py); 0 = off.
    c.train.speaker_im_steps = 0
    c.train.speaker_im_lr = 3e-3
    c.train.progress_bar = True

    # Augmentation in the jitted train step (jax_ser/augment.py), every element off by default.
    # A `*_prob` is the chance that one example gets that augmentation.
    c.augment = ml_collections.ConfigDict()
    c.augment.gain_db = 0.0  # gain uniform in [-gain_db, gain_db] dB; 0 = off
    c.augment.gain_prob = 1.0
    c.augment.noise_prob = 0.0  # additive noise; 0 = off
    c.augment.noise_snr_db = (10.0, 30.0)  # SNR range, dB, against each example's power
    c.augment.noise_color = "white"  # white | pink
    c.augment.time_shift_seconds = 0.0  # shift uniform in [-s, s]; 0 = off
    c.augment.time_shift_prob = 1.0
    c.augment.time_shift_mode = "roll"  # roll (wrap around) | zeros (fill with silence)
    c.augment.speed = (1.0, 1.0)  # speed factor range, e.g. (0.9, 1.1); (1, 1) = off
    c.augment.speed_prob = 1.0
    c.augment.pitch_shift_semitones = 0.0  # shift uniform in [-s, s] semitones; 0 = off
    c.augment.pitch_shift_prob = 1.0
    c.augment.reverb_prob = 0.0  # synthetic room response; 0 = off
    c.augment.reverb_rt60 = (0.2, 0.8)  # reverberation time range, seconds
    c.augment.spec_time_masks = 0  # SpecAugment masks per example, on the features
    c.augment.spec_time_mask_width = 0  # at most this many frames each
    c.augment.spec_freq_masks = 0
    c.augment.spec_freq_mask_width = 0  # at most this many feature channels each
    c.augment.time_warp = 0  # SpecAugment time warping by at most this many frames; 0 = off
    # Image-style changes of the feature map [T, F], after SpecAugment and before mixing:
    c.augment.image_zoom = (1.0, 1.0)  # zoom factor range, e.g. (0.9, 1.1); (1, 1) = off
    c.augment.image_zoom_axes = "both"  # time | freq | both (one factor for both)
    c.augment.image_zoom_prob = 1.0
    c.augment.image_rotate_deg = 0.0  # rotation uniform in [-deg, deg] degrees; 0 = off
    c.augment.image_rotate_prob = 1.0
    c.augment.image_brightness = 0.0  # offset uniform in +-b times the map's std; 0 = off
    c.augment.image_brightness_prob = 1.0
    c.augment.mixup_alpha = 0.0  # mixup weight ~ Beta(alpha, alpha); 0 = off
    c.augment.mixup_prob = 1.0
    c.augment.cutmix_prob = 0.0  # a time span taken from a partner example; 0 = off
    c.augment.cutmix_max_share = 1.0  # span share of the frames uniform in [0, max_share]
    c.lock()
    return c


def load_module(path: str | os.PathLike):
    """A config file as a module, e.g. to build on another config's get_config()."""
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def from_saved(saved: dict) -> ml_collections.ConfigDict:
    """A run's saved config.json on today's schema: every key the schema gained since the run
    was saved takes its default (all defaults leave a feature off), so the code reads each key
    directly however old the workdir."""
    config = ml_collections.ConfigDict(saved)
    _fill_missing(config, base_config(model={"name": saved["model"]["name"]}))
    return config


def _fill_missing(config: ml_collections.ConfigDict, defaults: ml_collections.ConfigDict) -> None:
    for key, value in defaults.items():
        if key not in config:
            config[key] = value.to_dict() if isinstance(value, ml_collections.ConfigDict) else value
        elif isinstance(value, ml_collections.ConfigDict):
            _fill_missing(config[key], value)


def fine_tuning(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """The shared recipe of the speech-encoder configs: pretrained weights, raw waveforms
    normalised per utterance (as the encoders' feature extractors do), small learning rate."""
    config.model.init = "pretrained"
    config.features.name = "waveform"
    config.features.normalize = "utterance"
    config.train.batch_size = 16
    config.train.num_epochs = 15
    config.train.learning_rate = 1e-4
    config.train.warmup_epochs = 1.0
    return config


def model_defaults(name: str) -> dict:
    """The model's fields with plain defaults, so each can be overridden (and typo-checked) from
    the command line even where the config file does not set it."""
    from jax_ser import models

    if name == "classical":
        # scikit-learn and TensorFlow: imported only when used, so a flag error comes at once
        from jax_ser import classical

        return dict(classical.DEFAULTS)
    try:
        model_class = models.get(name)
    except ValueError:
        return {}  # unknown model: validate() names it
    fields = dataclasses.fields(model_class)
    types = typing.get_type_hints(model_class)  # resolved: wav2vec2.py's annotations are strings
    defaults = {}
    for f in fields:
        if f.name in ("num_classes", "parent", "name"):
            continue
        if isinstance(f.default, (bool, int, float, str, tuple)):
            defaults[f.name] = f.default
        elif f.default is None:  # `float | None = None`: unset unless given, typed when given
            kinds = [t for t in typing.get_args(types[f.name]) if t in (bool, int, float, str)]
            if len(kinds) == 1:
                defaults[f.name] = ml_collections.config_dict.placeholder(kinds[0])
    return defaults


def corpus_list(config) -> list[tuple[str, str]]:
    """(name, root) pairs from the comma-separated data.corpus and data.root."""
    names = [n.strip() for n in config.data.corpus.split(",") if n.strip()]
    roots = (
        [r.strip() for r in config.data.root.split(",")] if config.data.root else [""] * len(names)
    )
    if len(roots) != len(names):
        raise ConfigError(
            f"config.data.root: {len(roots)} root(s) for {len(names)} corpora {names}; one root "
            "per corpus, comma-separated in the same order"
        )
    return list(zip(names, roots))


def validate(config) -> None:
    """Raise ConfigError naming the first key whose value cannot run."""
    import flax

    from jax_ser import adabn, augment, corpora, features, input_pipeline, labels, models

    if not config.data.corpus.strip():
        raise ConfigError("config.data.corpus is empty")
    for name, root in corpus_list(config):
        if name not in corpora.NAMES:
            raise ConfigError(
                f"config.data.corpus: unknown corpus {name!r}; known: {', '.join(corpora.NAMES)}"
            )
        if not root and name != "synthetic":
            raise ConfigError(
                f"config.data.root is required for corpus {name!r}: pass "
                f"--config.data.root=/path/to/{name} (the folder of the corpus's original layout)"
            )
    names = [name for name, _ in corpus_list(config)]
    if config.data.eval_corpus and config.data.eval_corpus not in names:
        raise ConfigError(
            f"config.data.eval_corpus: {config.data.eval_corpus!r} is not one of the corpora "
            f"read (config.data.corpus: {', '.join(names)})"
        )
    try:
        labels.task_classes(config.data.task)
    except ValueError as e:
        raise ConfigError(f"config.data.task: {e}") from None
    if not re.fullmatch(SPLIT_FORMS, config.data.split):
        raise ConfigError(
            f"config.data.split: {config.data.split!r} is not fold:K, loso:SPEAKER, session:N, "
            "emobox:K (K = 1..6), random, final"
        )
    if config.data.split == "random" and not config.data.allow_random_split:
        raise ConfigError(
            "config.data.split=random mixes speakers between train and test; set "
            "--config.data.allow_random_split=True to run it anyway"
        )
    _positive(
        config,
        "data.sample_rate",
        "data.clip_seconds",
        "data.eval_crops",
        "train.batch_size",
        "train.grad_accum_steps",
        "train.fsdp",
        "train.num_epochs",
        "train.learning_rate",
        "train.eval_batch_size",
        "features.n_fft",
        "features.hop_length",
    )
    if config.train.batch_size % config.train.grad_accum_steps:
        raise ConfigError(
            f"config.train.grad_accum_steps={config.train.grad_accum_steps} must divide "
            f"config.train.batch_size={config.train.batch_size} into equal micro-batches"
        )
    if not 0 <= config.data.max_bad_fraction <= 1:
        raise ConfigError("config.data.max_bad_fraction must lie in [0, 1]")
    if not 0 <= config.train.ema_decay < 1:
        raise ConfigError(
            f"config.train.ema_decay must lie in [0, 1) (0 = off), got {config.train.ema_decay!r}"
        )
    try:
        features.num_features(config.features)
    except ValueError as e:
        raise ConfigError(f"config.features.name: {e}") from None
    if bool(config.data.precomputed) != (config.features.name == "precomputed"):
        raise ConfigError(
            "config.data.precomputed (a folder of extracted features) and "
            "config.features.name=precomputed go together"
        )
    if config.features.normalize not in features.NORMALIZATIONS:
        raise ConfigError(
            f"config.features.normalize: {config.features.normalize!r} is not one of "
            f"{', '.join(features.NORMALIZATIONS)}"
        )
    if config.features.normalize == "speaker" and config.features.name in ("waveform",
                                                                            "precomputed"):
        raise ConfigError(
            "config.features.normalize=speaker standardises spectral feature bands per speaker; "
            f"features.name={config.features.name} has none"
        )
    if config.train.schedule not in SCHEDULES:
        raise ConfigError(
            f"config.train.schedule: {config.train.schedule!r}; known: {', '.join(SCHEDULES)}"
        )
    if config.train.loss not in ("softmax", "sigmoid"):
        raise ConfigError(f"config.train.loss: {config.train.loss!r} is not softmax or sigmoid")
    if config.train.optimizer not in ("adamw", "sgd"):
        raise ConfigError(f"config.train.optimizer: {config.train.optimizer!r} is not adamw or sgd")
    if config.train.select_metric not in ("ua", "wa", "macro_f1"):
        raise ConfigError(
            f"config.train.select_metric: {config.train.select_metric!r} is not ua, wa or macro_f1"
        )
    validate_augment(config)
    validate_progressive_resizing(config)
    if config.train.speaker_batches and config.train.class_balanced_sampling:
        raise ConfigError("config.train.speaker_batches and config.train.class_balanced_sampling "
                          "each choose the examples of a batch; set one of them")
    if config.train.bn_statistics not in adabn.MODES:
        raise ConfigError(
            f"config.train.bn_statistics: {config.train.bn_statistics!r} is not running or speaker"
        )
    if config.train.speaker_im_steps < 0 or config.train.speaker_im_lr <= 0:
        raise ConfigError("config.train.speaker_im_steps must be >= 0 and speaker_im_lr > 0")
    if config.train.speaker_im_steps and config.train.bn_statistics != "speaker":
        raise ConfigError("config.train.speaker_im_steps fits BatchNorm layers to each speaker's "
                          "statistics: set config.train.bn_statistics=speaker too")
    if config.model.name == "classical":  # scikit-learn on pooled features: jax_ser.classical
        from jax_ser import classical

        if config.train.bn_statistics == "speaker":
            raise ConfigError("config.train.bn_statistics=speaker: the classical model has no "
                              "BatchNorm layer")

        return classical.validate(config)
    if config.model.name not in models.names():
        known = ", ".join([*models.names(), "classical (scikit-learn)"])
        raise ConfigError(f"config.model.name: unknown model {config.model.name!r}; known: {known}")
    try:  # builds and traces the model on one clip's features, without computing anything
        model = models.build(config.model, num_classes=2)
        feature_config = input_pipeline.feature_config(config)
        clip = input_pipeline.input_shape(config)[0]
        shape = (
            1,
            features.num_frames(clip, feature_config),
            features.num_features(feature_config),
        )
        variables = jax.eval_shape(
            lambda: model.init(jax.random.key(0), jnp.zeros(shape), train=False)
        )
    except (ValueError, TypeError) as e:
        raise ConfigError(f"config.model: {e}") from None
    if config.train.bn_statistics == "speaker" and "batch_stats" not in variables:
        raise ConfigError(
            f"config.train.bn_statistics=speaker: model {config.model.name!r} has no BatchNorm "
            "layer whose statistics could follow the speaker"
        )
    for stage in config.train.progressive_resizing:
        # the weights built for the full size must take the small maps of the first epochs too
        small = (1, *augment.resized_shape(shape[1], shape[2], stage[1:]))
        try:
            jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, jnp.zeros(small))
        except (ValueError, TypeError, flax.errors.FlaxError) as e:
            raise ConfigError(
                f"config.train.progressive_resizing: model {config.model.name!r}, built for "
                f"{shape[1]} x {shape[2]} feature maps, cannot take the {small[1]} x {small[2]} "
                f"maps of stage {tuple(stage)!r} (a model that pools over time and frequency, "
                f"e.g. resnet or cnn, can): {str(e).splitlines()[0]}"
            ) from None
    can_load = hasattr(models.module(config.model.name), "load_pretrained")
    if config.model.init not in ("random", "pretrained") or (
        config.model.init == "pretrained" and not can_load
    ):
        raise ConfigError(
            f"config.model.init: {config.model.init!r}; model {config.model.name!r} "
            f"supports: random{', pretrained' if can_load else ''}"
        )
    if config.model.init == "pretrained":
        checkpoint = config.model.get("checkpoint", "")
        if not os.path.exists(os.path.expanduser(checkpoint)) and not HUB_ID.fullmatch(checkpoint):
            raise ConfigError(
                f"config.model.checkpoint: {checkpoint!r} not found. Download the weights (README: "
                "'Pretrained weights') and pass their local path, or train from scratch with "
                "--config.model.init=random"
            )


def validate_image_augment(config) -> None:
    """Ranges of the image stage's keys of config.augment."""
    from jax_ser import augment

    image = config.augment

    for key in ("image_zoom_prob", "image_rotate_prob", "image_brightness_prob"):
        if not 0 <= image[key] <= 1:
            raise ConfigError(
                f"config.augment.{key} is a probability: it must lie in [0, 1], got {image[key]!r}"
            )
    if not 0 <= image["image_rotate_deg"] <= 180:
        raise ConfigError(
            f"config.augment.image_rotate_deg must lie in [0, 180] (0 = off), got "
            f"{image['image_rotate_deg']!r}"
        )
    if not image["image_brightness"] >= 0:
        raise ConfigError(
            f"config.augment.image_brightness must be >= 0 (0 = off), got "
            f"{image['image_brightness']!r}"
        )
    zoom = tuple(image["image_zoom"])
    if len(zoom) != 2 or not 0 < zoom[0] <= zoom[1]:
        raise ConfigError(
            f"config.augment.image_zoom: {zoom!r} must be a (low, high) pair of factors with "
            "0 < low <= high"
        )
    if image["image_zoom_axes"] not in ("time", "freq", "both"):
        raise ConfigError(
            f"config.augment.image_zoom_axes: {image['image_zoom_axes']!r} is not time, freq or "
            "both"
        )
    if config.features.name == "waveform" and augment.image_on(image):
        raise ConfigError(
            "config.augment.image_*: zoom, rotation and brightness act on feature maps [T, F]; "
            "config.features.name=waveform gives the model raw samples"
        )


def validate_progressive_resizing(config) -> None:
    """The stages of train.progressive_resizing; `validate` traces the model at their sizes."""
    stages = config.train.progressive_resizing
    if not stages:
        return
    key = "config.train.progressive_resizing"
    for stage in stages:
        try:
            epochs, *scales = stage
            good = (
                len(scales) == 2
                and isinstance(epochs, int)
                and epochs >= 1
                and all(0 < s <= 1 for s in scales)
            )
        except (TypeError, ValueError):
            good = False
        if not good:
            raise ConfigError(
                f"{key}: stage {stage!r} is not (num_epochs >= 1, frames_scale, features_scale) "
                "with both scales in (0, 1]; stages are a tuple of such triples, e.g. "
                "((10, 0.5, 0.5),)"
            )
    epochs = sum(stage[0] for stage in stages)
    if epochs >= config.train.num_epochs:
        raise ConfigError(
            f"{key}: its stages take {epochs} epochs of config.train.num_epochs="
            f"{config.train.num_epochs}; leave at least one epoch to fine-tune at the full size"
        )
    if config.model.name == "classical":
        raise ConfigError(f"{key}: the classical model is fitted once, without epochs; set ()")
    if config.features.name == "waveform":
        raise ConfigError(
            f"{key}: resizes feature maps [T, F]; config.features.name=waveform gives the model "
            "raw samples"
        )


def _positive(config, *keys: str) -> None:
    for key in keys:
        section, field = key.split(".")
        if not config[section][field] > 0:
            raise ConfigError(f"config.{key} must be positive, got {config[section][field]!r}")


def validate_augment(config) -> None:
    """Ranges of config.augment."""
    from jax_ser import augment, features, input_pipeline

    a = config.augment
    for key in ("gain_prob", "noise_prob", "time_shift_prob", "speed_prob", "pitch_shift_prob",
                "reverb_prob", "mixup_prob", "cutmix_prob"):
        if not 0 <= a[key] <= 1:
            raise ConfigError(f"config.augment.{key} is a probability: it must lie in [0, 1], "
                              f"got {a[key]!r}")
    for key in ("gain_db", "time_shift_seconds", "pitch_shift_semitones", "spec_time_masks",
                "spec_time_mask_width", "spec_freq_masks", "spec_freq_mask_width", "time_warp",
                "mixup_alpha"):
        if not a[key] >= 0:
            raise ConfigError(f"config.augment.{key} must be >= 0 (0 = off), got {a[key]!r}")
    if not 0 < a.cutmix_max_share <= 1:
        raise ConfigError(
            f"config.augment.cutmix_max_share must lie in (0, 1], got {a.cutmix_max_share!r}"
        )
    for key, low in (("noise_snr_db", -math.inf), ("speed", 0.0), ("reverb_rt60", 0.0)):
        value = a[key]
        if len(value) != 2 or not low < value[0] <= value[1]:
            raise ConfigError(
                f"config.augment.{key}: {tuple(value)!r} must be a (low, high) pair with low <= "
                f"high{'' if low == -math.inf else f' and low > {low:g}'}"
            )
    validate_image_augment(config)
    if a.noise_color not in ("white", "pink"):
        raise ConfigError(f"config.augment.noise_color: {a.noise_color!r} is not white or pink")
    if a.time_shift_mode not in ("roll", "zeros"):
        raise ConfigError(
            f"config.augment.time_shift_mode: {a.time_shift_mode!r} is not roll or zeros"
        )
    if a.time_shift_seconds >= config.data.clip_seconds:
        raise ConfigError(
            f"config.augment.time_shift_seconds={a.time_shift_seconds} must be shorter than "
            f"config.data.clip_seconds={config.data.clip_seconds}"
        )
    if config.data.precomputed and augment.waveform_on(a):
        raise ConfigError(
            "config.augment: gain, noise, time shift, speed, pitch shift and reverb act on "
            "audio; with config.data.precomputed features only the spec_*, time_warp, image_*, "
            "mixup and cutmix augmentations apply"
        )
    if not (a.spec_time_mask_width or a.spec_freq_mask_width or a.time_warp):
        return
    feature_config = input_pipeline.feature_config(config)
    frames = features.num_frames(input_pipeline.input_shape(config)[0], feature_config)
    channels = features.num_features(feature_config)
    if a.spec_time_mask_width > frames:
        raise ConfigError(
            f"config.augment.spec_time_mask_width={a.spec_time_mask_width} exceeds the "
            f"{frames} frames of a training clip"
        )
    if a.spec_freq_mask_width > channels:
        raise ConfigError(
            f"config.augment.spec_freq_mask_width={a.spec_freq_mask_width} exceeds the "
            f"{channels} feature channels"
        )
    if a.time_warp and not frames > 2 * a.time_warp + 3:
        raise ConfigError(
            f"config.augment.time_warp={a.time_warp} needs clips of more than 2 * time_warp + 3 "
            f"frames; a training clip has {frames}"
        )
