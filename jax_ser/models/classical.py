"""Classical baselines: scikit-learn classifiers on utterance-level feature statistics.

The reports' first systems pool frame features (MFCC, log-mel, chroma, zero-crossing rate) over the
whole utterance into one vector and fit a logistic regression, an RBF-kernel SVM or a 300-unit MLP
on it. They run here through the same corpora, splits, metrics and workdir outputs as the neural
models (`model.name=classical`), and the fitted pipeline is saved as `classical.joblib` so
`jax_ser.predict` labels recordings with it. Features are librosa's, as in the reports; they are
computed once per utterance and cached.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path

import joblib
import librosa
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from jax_ser import errors
from jax_ser.data import cache, labels, precomputed

log = logging.getLogger(__name__)

ESTIMATORS = ("logistic_regression", "svm", "mlp")
POOLED_FEATURES = ("mfcc", "log_mel", "chroma", "zcr")
STATISTICS = ("mean", "std")
# The fields of config.model for model.name=classical.
DEFAULTS = dict(
    estimator="logistic_regression",
    pooled="mfcc:mean,std",  # items "feature:stat,stat" joined by ";"
    C=1.0,  # inverse regularisation of logistic regression and the SVM
    alpha=1e-4,  # L2 penalty of the MLP
    hidden=(300,),  # MLP hidden layers
    max_iter=1000,
)
MODEL_FILE = "classical.joblib"


def parse_pooled(spec: str) -> list[tuple[str, tuple[str, ...]]]:
    """"mfcc:mean,std;zcr:mean" -> [("mfcc", ("mean", "std")), ("zcr", ("mean",))]."""
    items = []
    for item in filter(None, (s.strip() for s in spec.split(";"))):
        name, _, stats = item.partition(":")
        stats = tuple(s.strip() for s in stats.split(",") if s.strip()) or ("mean",)
        if name.strip() not in POOLED_FEATURES or not set(stats) <= set(STATISTICS):
            raise ValueError(
                f"pooled item {item!r}: features are {', '.join(POOLED_FEATURES)}, statistics "
                f"{', '.join(STATISTICS)}, e.g. 'mfcc:mean,std;zcr:mean'"
            )
        items.append((name.strip(), stats))
    if not items:
        raise ValueError("pooled is empty; e.g. 'mfcc:mean,std'")
    return items


def check_config(config) -> None:
    mc = config.model
    unknown = sorted(set(mc) - set(DEFAULTS) - {"name", "init"})
    if unknown:
        raise errors.ConfigError(f"config.model: unknown field(s) for classical: {unknown}")
    if mc.estimator not in ESTIMATORS:
        raise errors.ConfigError(
            f"config.model.estimator: {mc.estimator!r}; known: {', '.join(ESTIMATORS)}"
        )
    if mc.init != "random":
        raise errors.ConfigError("config.model.init: classical models have no pretrained init")
    if config.features.normalize == "speaker":
        raise errors.ConfigError(
            "config.features.normalize=speaker: classical models standardise their pooled "
            "features over the training set; speaker normalisation is for the JAX front end"
        )
    try:
        parse_pooled(mc.pooled)
    except ValueError as e:
        raise errors.ConfigError(f"config.model.pooled: {e}") from None


def pooled_features(wave: np.ndarray, config) -> np.ndarray:
    """One utterance -> its feature statistics over time, in the order of model.pooled."""
    f, sr = config.features, config.data.sample_rate
    stft = dict(n_fft=f.n_fft, hop_length=f.hop_length, win_length=f.win_length)
    out = []
    for name, stats in parse_pooled(config.model.pooled):
        if name == "mfcc":
            frames = librosa.feature.mfcc(y=wave, sr=sr, n_mfcc=f.n_mfcc, n_mels=f.n_mels, **stft)
        elif name == "log_mel":
            mel = librosa.feature.melspectrogram(y=wave, sr=sr, n_mels=f.n_mels, **stft)
            frames = librosa.power_to_db(mel, ref=np.max, top_db=f.top_db or None)
        elif name == "chroma":
            frames = librosa.feature.chroma_stft(y=wave, sr=sr, **stft)
        else:
            frames = librosa.feature.zero_crossing_rate(
                wave, frame_length=f.n_fft, hop_length=f.hop_length
            )
        out += [getattr(np, stat)(frames, axis=1) for stat in stats]
    return np.concatenate(out).astype(np.float32)


def feature_matrix(waves: dict[str, np.ndarray], config) -> dict[str, np.ndarray]:
    """Pooled features of every waveform, cached under the data cache by content and settings."""
    data = config.data
    settings = [  # not the split or seed: every fold of a corpus reuses the same features
        config.model.pooled,
        config.features.to_dict(),
        [data.sample_rate, data.trim_db, data.normalize],
        sorted((p, len(w)) for p, w in waves.items()),
    ]
    key = hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()
    path = cache.cache_dir(config.data) / "pooled" / f"{key[:20]}.npz"
    if path.exists():
        with np.load(path) as z:
            return dict(zip(z["paths"].tolist(), z["features"]))
    t0 = time.time()
    paths = sorted(waves)
    matrix = np.stack([pooled_features(waves[p], config) for p in paths])
    log.info("pooled features of %d utterances in %.0f s", len(paths), time.time() - t0)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
    np.savez(tmp, paths=np.array(paths, dtype=str), features=matrix)
    os.replace(tmp, path)
    return dict(zip(paths, matrix))


def make_estimator(model_config, seed: int):
    """StandardScaler + the estimator: pooled dB values and MFCCs differ in scale."""
    mc = model_config
    if mc.estimator == "logistic_regression":
        clf = LogisticRegression(C=mc.C, max_iter=mc.max_iter)
    elif mc.estimator == "svm":  # Platt-scaled probabilities, for ROC-AUC and calibration
        clf = SVC(kernel="rbf", C=mc.C, gamma="scale", probability=True, random_state=seed)
    else:
        clf = MLPClassifier(
            hidden_layer_sizes=tuple(mc.hidden),
            alpha=mc.alpha,
            max_iter=mc.max_iter,
            early_stopping=False,
            random_state=seed,
        )
    return make_pipeline(StandardScaler(), clf)


class Fitted:
    """A fitted pipeline with the interface of evaluate.runner.Runner that evaluation and
    prediction use."""

    def __init__(self, config, pipeline):
        self.config = config
        self.pipeline = pipeline
        self.class_names = labels.task_classes(config.data.task)
        self.clip_samples = precomputed.input_shape(config)[0]  # window for long recordings

    @classmethod
    def load(cls, workdir: str | Path, config) -> "Fitted":
        path = Path(workdir) / MODEL_FILE
        if not path.exists():
            raise FileNotFoundError(f"no fitted classical model {path}")
        return cls(config, joblib.load(path))

    adapters = ()  # no speaker adaptation

    def probs(self, state, waves, speakers=None, num_crops: int | None = None) -> np.ndarray:
        """Class probabilities [len(waves), C] of whole waveforms (`state`, `speakers` and
        `num_crops` unused): the Runner's interface."""
        if not len(waves):
            return np.zeros((0, len(self.class_names)))
        x = np.stack([pooled_features(w, self.config) for w in waves])
        return self.probs_of(x)

    def probs_of(self, x: np.ndarray) -> np.ndarray:
        """Probabilities over every task class, also those absent from the training labels."""
        probs = np.zeros((len(x), len(self.class_names)))
        probs[:, self.pipeline.classes_] = self.pipeline.predict_proba(np.float64(x))
        return probs / probs.sum(axis=1, keepdims=True)


def fit(config, train_x: np.ndarray, train_y: np.ndarray, workdir: Path) -> Fitted:
    pipeline = make_estimator(config.model, config.seed).fit(np.float64(train_x), train_y)
    joblib.dump(pipeline, workdir / MODEL_FILE)
    return Fitted(config, pipeline)
