"""A trained run loaded from its workdir (or several, as an ensemble), ready to label recordings:
`load(workdir)`. Prediction, re-evaluation, adaptation sets and cross-corpus tests all start here.

A recording that fits the training window (after silence trimming) gets one prediction. A longer
one is cut into windows of the training length; each window is a `segments` entry and the
recording's probabilities are their mean. Where training fitted a temperature on the validation
speakers (metrics.json, "calibration"), the probabilities are the calibrated ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from jax_ser.config import workdir as workdir_lib
from jax_ser.data import audio
from jax_ser.evaluate import calibration
from jax_ser.evaluate.runner import Runner
from jax_ser.train import checkpoints


class Trained:
    """The best checkpoint of one workdir: `runner` labels with `state`."""

    def __init__(self, workdir: str | Path):
        workdir = Path(workdir)
        self.workdir = workdir
        self.config = workdir_lib.read(workdir)
        self.temperature = fitted_temperature(workdir)
        if self.config.data.precomputed:
            raise ValueError(
                f"{workdir} was trained on precomputed encoder features "
                f"({self.config.data.precomputed}); label recordings with a model "
                "trained on audio, e.g. configs/wav2vec2_base_cls.py"
            )
        if self.config.model.name == "classical":  # a fitted scikit-learn pipeline
            from jax_ser.models import classical

            self.runner, self.state = classical.Fitted.load(workdir, self.config), None
            self.labels = list(self.runner.class_names)
            return
        self.runner = Runner(self.config)
        state = self.runner.init(load_pretrained=False)
        ckpts = checkpoints.Checkpoints(workdir / "checkpoints", read_only=True)
        best = ckpts.restore_best({"params": state.params, "model_state": state.model_state})
        ckpts.close()
        if best is None:
            raise FileNotFoundError(f"no trained checkpoint in {workdir / 'checkpoints' / 'best'}")
        variables, _ = best
        self.state = state.replace(params=variables["params"], model_state=variables["model_state"])
        self.labels = list(self.runner.class_names)

    @property
    def needs_speaker(self) -> bool:
        """Whether a label depends on the speaker's other recordings (jax_ser.adapt)."""
        return self.state is not None and bool(self.runner.adapters)

    def preprocess(self, raw: np.ndarray, trim: bool = True) -> np.ndarray:
        data = self.config.data
        return audio.preprocess(raw, normalize=data.normalize,
                                trim_db=(data.trim_db or None) if trim else None)

    def adapt(self, paths: Sequence[str]):
        """The model adapted to one speaker, the readable recordings in `paths` (jax_ser.adapt):
        their feature statistics from the whole recordings, their BatchNorm statistics from every
        clip-long window of each once, as the labels will see them."""
        waves = []
        for path in paths:
            try:
                waves.append(self.preprocess(audio.load(path, self.config.data.sample_rate)))
            except audio.BadAudioError:
                continue  # reported when the file is labelled
        if not waves:
            raise ValueError("no readable recording to take the speaker statistics from")
        clip = self.runner.clip_samples
        windows = [w for wave in waves
                   for w in (audio.sliding_windows(wave, clip, clip)[0]
                             if len(wave) > clip else [wave])]
        return self.runner.adapt(self.state, waves, crops=windows, num_crops=1)

    def probs(self, waves, num_crops: int | None = None, speaker=None) -> np.ndarray:
        """Calibrated probabilities of `waves`, by the model as trained or adapted to `speaker`
        (a jax_ser.adapt.Speaker from `adapt`)."""
        if speaker is None:
            if self.needs_speaker:
                raise ValueError(
                    f"{self.workdir} adapts to the speaker ("
                    + ", ".join(m.__name__.rpartition(".")[2] for m in self.runner.adapters)
                    + "): adapt it to recordings of the speaker first (adapt(paths))")
            probs = self.runner.probs(self.state, waves, num_crops=num_crops)
        else:
            probs = self.runner.labelled(speaker, waves, num_crops)
        if self.temperature is None:
            return probs
        return calibration.apply_temperature(probs, self.temperature)

    def predict_file(self, path: str, hop_seconds: float = 0.0, speaker=None) -> dict:
        """One recording's line: label and probabilities, and segments when it is longer than
        the training window; an `error` line when it cannot be read."""
        data = self.config.data
        try:
            raw = audio.load(path, data.sample_rate)
        except audio.BadAudioError as e:
            return {"path": path, "error": e.reason}
        result = {"path": path, "duration_s": round(len(raw) / data.sample_rate, 3)}
        wave = self.preprocess(raw)
        clip = self.runner.clip_samples
        if len(wave) <= clip:
            return {**result, **self.label(self.probs([wave], speaker=speaker)[0])}
        full = self.preprocess(raw, trim=False)
        hop = int(hop_seconds * data.sample_rate) if hop_seconds > 0 else clip // 2
        windows, starts = audio.sliding_windows(full, clip, hop)
        window_probs = self.probs(list(windows), num_crops=1, speaker=speaker)
        result["segments"] = [
            {"start": round(s / data.sample_rate, 3),
             "end": round(min(s + clip, len(full)) / data.sample_rate, 3),
             **self.label(p)}
            for s, p in zip(starts, window_probs)
        ]
        return {**result, **self.label(window_probs.mean(axis=0))}

    def label(self, probs: np.ndarray) -> dict:
        """The most probable label and every class's probability, rounded."""
        return {
            "label": self.labels[int(np.argmax(probs))],
            "probs": {c: round(float(p), 5) for c, p in zip(self.labels, probs)},
        }


def fitted_temperature(workdir: Path) -> float | None:
    """The temperature training fitted on the validation speakers, if it fitted one."""
    path = workdir / "metrics.json"
    if not path.exists():  # an interrupted run labels with its best checkpoint as it is
        return None
    return json.loads(path.read_text()).get("calibration", {}).get("temperature")


def load(workdirs) -> list[Trained]:
    """A Trained per workdir (one path, or several as an ensemble); an ensemble's runs must
    share the labels and the training window."""
    workdirs = [workdirs] if isinstance(workdirs, (str, Path)) else list(workdirs)
    trained = [Trained(w) for w in workdirs]
    first = trained[0]
    for other, workdir in zip(trained[1:], workdirs[1:]):
        if other.labels != first.labels:
            raise ValueError(f"{workdir} labels {other.labels}, {workdirs[0]} {first.labels}: "
                             "an ensemble's runs must share data.task")
        if (other.config.data.clip_seconds, other.config.data.sample_rate) != (
                first.config.data.clip_seconds, first.config.data.sample_rate):
            raise ValueError(f"{workdir} and {workdirs[0]} differ in data.clip_seconds or "
                             "data.sample_rate: an ensemble's runs must share the window")
    return trained


def mean_line(lines: list[dict], label) -> dict:
    """One file's line from several models' lines: their probabilities averaged, also per
    segment (the models share the training window, so their segments are the same)."""
    first = lines[0]
    if "error" in first:
        return first
    mean = lambda rows: np.mean([[r["probs"][c] for c in first["probs"]] for r in rows], axis=0)
    out = {k: v for k, v in first.items() if k not in ("label", "probs", "segments")}
    if "segments" in first:
        out["segments"] = [
            {"start": segs[0]["start"], "end": segs[0]["end"], **label(mean(segs))}
            for segs in zip(*(line["segments"] for line in lines))
        ]
    return {**out, **label(mean(lines))}
