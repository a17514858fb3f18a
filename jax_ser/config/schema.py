"""The config schema every experiment shares.

Config files in `configs/` start from `base_config()` and set what differs. The ConfigDict is
locked, so a mistyped override (`--config.train.lerning_rate=...`) is refused by ml_collections
before anything runs; `jax_ser.config.check` then rejects values that are well-typed but
meaningless.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import typing
from pathlib import Path

import ml_collections

from jax_ser import adapt


def base_config(model: dict) -> ml_collections.ConfigDict:
    """The shared schema; `model` holds `name` (a file in jax_ser/models) and the Model's fields."""
    c = ml_collections.ConfigDict()
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.corpus = "synthetic"  # registry names, comma-separated to combine corpora
    c.data.root = ""  # one root per corpus, same order; "" = built-in cache (synthetic only)
    # folders: read and decode data.root (cached); tfds: datasets made by jax_ser.prepare
    c.data.source = "folders"
    c.data.data_dir = ""  # tfds: "" = $TFDS_DATA_DIR or ~/tensorflow_datasets
    c.data.task = "ravdess8"  # jax_ser.data.labels.TASKS; "TASK:class,class" keeps those classes
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
    c.features.top_db = 80.0  # 0 = no floor
    c.features.log_offset = 0.0  # 0 = floor the power at 1e-10; > 0 = log(power + log_offset)
    c.features.normalize = "utterance"  # none | utterance | frequency | speaker
    # Frames of a short clip's zero padding are left out of the normalisation statistics and
    # set to 0 after it.
    c.features.mask_padding = False

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
    # On CPU, the batch split over this many XLA devices, as over GPUs: each computes its own
    # examples on its own core, where XLA's threads split a small convolution or matmul poorly
    # (on 2 cores ResNet18's step is 1.13-1.26x faster, a BiLSTM's 1.06-1.08x and an LSTM +
    # dense's 1.57-1.60x: results/speed.md). 0 = one per core the process may use, with at least 8
    # examples of a micro-batch each; 1 = one device. Set by the programs before JAX starts;
    # JAX_NUM_CPU_DEVICES or XLA_FLAGS' device count, where set, take precedence.
    c.train.cpu_devices = 1
    # Seed ensembles in one process: K > 1 trains K members, seeds seed..seed+K-1, with their
    # parameters, optimizer and BatchNorm states stacked on a leading axis and one compiled step
    # (vmapped on accelerators, the members in turn on CPU: jax_ser/train/steps.py). Each member
    # draws its own batch order, crops, augmentation and dropout from its seed, so it trains as
    # the single run with that seed would. The run's split, validation and best epoch are the
    # ensemble's (the mean of its members' probabilities); metrics.json reports each member too.
    c.train.ensemble_size = 1
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
    # one speaker's statistics, as adapt.bn_statistics=speaker does at evaluation.
    c.train.speaker_batches = False
    # Evaluate and keep the exponential moving average of the weights (jax_ser/train/ema.py), e.g.
    # 0.999; 0 = off.
    c.train.ema_decay = 0.0
    c.train.early_stopping_patience = 0  # epochs without validation gain; 0 = never stop early
    # Progressive resizing: (num_epochs, frames_scale, features_scale) stages run first, e.g.
    # ((10, 0.5, 0.5),): the first 10 epochs train on feature maps resized to half the frames
    # and half the channels; the rest of num_epochs, and all evaluation, at the full size.
    # () = off.
    c.train.progressive_resizing = ()
    c.train.select_metric = "ua"  # validation metric that picks the best checkpoint
    c.train.checkpoint_every_steps = 0  # 0 = at epoch ends only
    c.train.max_nan_steps = 20  # consecutive non-finite losses before the run stops
    c.train.progress_bar = True

    # Augmentation in the jitted train step (jax_ser/frontend/augment.py), every element off by
    # default.
    # A `*_prob` is the chance that one example gets that augmentation.
    # Evaluation: validation in training, test, predict, reevaluate. These keys and adapt's may
    # change between training and a later evaluation of the same weights (jax_ser.reevaluate).
    c.eval = ml_collections.ConfigDict()
    c.eval.crops = 1  # 1 = centre crop; >1 = evenly spaced crops, probabilities averaged
    c.eval.batch_size = 64
    # Fit one softmax temperature on the validation speakers' outputs and report the test
    # calibration (NLL, ECE) before and after it; needs val_speakers > 0. Predictions unchanged.
    c.eval.temperature_scaling = True

    # Speaker adaptation at evaluation (jax_ser/adapt/): each method's keys, from its file.
    c.adapt = ml_collections.ConfigDict(adapt.defaults())

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
        from jax_ser.models import classical

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
