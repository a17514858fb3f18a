"""Label recordings with a trained run: one JSON line per audio file.

  python -m jax_ser.predict --workdir runs/demo rec1.wav folder/ [--output preds.jsonl]

Several workdirs (--workdir runs/a,runs/b) label as an ensemble: each file's probabilities, and
each segment's, are the mean of the runs'.

A recording that fits the training window (after silence trimming) gets one prediction. A longer one
is cut into windows of the training length (hop: half a window); each window is a `segments` entry
and the file's probabilities are their mean. A file that cannot be read gets an `error` line and the
others are still labelled. Where training fitted a temperature on the validation speakers
(metrics.json, "calibration"), the probabilities are the calibrated ones; the labels are the same.
A model trained with features.normalize=speaker or train.bn_statistics=speaker needs a speaker's
statistics: the readable files of one call are taken as one speaker's recordings, so label one
speaker per call.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Iterator

import jax
import numpy as np
from absl import app, flags, logging

from jax_ser import (audio, calibration, checkpoints, classical, config as config_lib, corpora,
                     input_pipeline, speaker_norm, train)


class Predictor:
    """The best checkpoint of a workdir, ready to label waveforms."""

    def __init__(self, workdir: str | Path):
        workdir = Path(workdir)
        config_path = workdir / "config.json"
        if not config_path.exists():
            raise FileNotFoundError(
                f"{config_path} not found: is {workdir} a jax_ser training workdir?"
            )
        self.config = config_lib.from_saved(json.loads(config_path.read_text()))
        self.temperature = fitted_temperature(workdir)
        if self.config.data.precomputed:
            raise ValueError(
                f"{workdir} was trained on precomputed encoder features "
                f"({self.config.data.precomputed}); label recordings with a model "
                "trained on audio, e.g. configs/wav2vec2_base_cls.py"
            )
        if self.config.model.name == "classical":  # a fitted scikit-learn pipeline
            self.run, self.state = classical.Fitted.load(workdir, self.config), None
            self.labels = list(self.run.class_names)
            return
        self.run = train.Run(self.config)
        state = self.run.init(load_pretrained=False)
        ckpts = checkpoints.Checkpoints(workdir / "checkpoints", read_only=True)
        best = ckpts.restore_best({"params": state.params, "model_state": state.model_state})
        ckpts.close()
        if best is None:
            raise FileNotFoundError(f"no trained checkpoint in {workdir / 'checkpoints' / 'best'}")
        variables, _ = best
        self.state = state.replace(params=variables["params"], model_state=variables["model_state"])
        self.trained = self.state  # each speaker is adapted from these weights
        self.labels = list(self.run.class_names)

    @property
    def needs_speaker(self) -> bool:
        """Whether a label depends on the speaker's other recordings: features standardised with
        the speaker's statistics, or BatchNorm statistics over their recordings."""
        return self.state is not None and (self.config.features.normalize == "speaker"
                                           or self.config.train.bn_statistics == "speaker")

    def adapt_to_speaker(self, paths: list[str]) -> np.ndarray | None:
        """Takes the readable recordings in `paths` as one speaker's. Returns their feature
        statistics [2, F] (features.normalize=speaker; else None); with
        train.bn_statistics=speaker, the model's BatchNorm statistics become theirs too (and
        with train.speaker_im_steps its BatchNorm scales and biases), in place of the previous
        speaker's."""
        data = self.config.data
        waves = []
        for path in paths:
            try:
                raw = audio.load(path, data.sample_rate)
            except audio.BadAudioError:
                continue  # reported when the file is labelled
            waves.append(audio.preprocess(raw, normalize=data.normalize,
                                          trim_db=data.trim_db or None))
        if not waves:
            raise ValueError("no readable recording to take the speaker statistics from")
        clip = self.run.clip_samples
        stats = None
        if self.config.features.normalize == "speaker":
            stats = speaker_norm.statistics(waves, input_pipeline.feature_config(self.config),
                                            clip)
        if self.config.train.bn_statistics == "speaker":
            # every clip-long window of each recording once, as the labels will see them
            windows = [w for wave in waves
                       for w in (audio.sliding_windows(wave, clip, clip)[0]
                                 if len(wave) > clip else [wave])]
            tiled = None if stats is None else np.repeat(stats[None], len(windows), 0)
            self.state = self.run.speaker_state(self.trained, list(windows), num_crops=1,
                                                speaker_stats=tiled)
        return stats

    def predict_file(self, path: str, hop_seconds: float = 0.0,
                     speaker_stats: np.ndarray | None = None) -> dict:
        """`speaker_stats` [2, F]: the speaker's statistics (models with normalize=speaker)."""
        data = self.config.data
        try:
            raw = audio.load(path, data.sample_rate)
        except audio.BadAudioError as e:
            return {"path": path, "error": e.reason}
        result = {"path": path, "duration_s": round(len(raw) / data.sample_rate, 3)}
        wave = audio.preprocess(raw, normalize=data.normalize, trim_db=data.trim_db or None)
        clip = self.run.clip_samples

        def tile(n):  # the speaker's statistics for each of n inputs
            return None if speaker_stats is None else np.repeat(speaker_stats[None], n, 0)

        if len(wave) <= clip:
            probs = self._calibrate(
                self.run.predict_probs(self.state, [wave], speaker_stats=tile(1)))[0]
        else:
            full = audio.preprocess(raw, normalize=data.normalize, trim_db=None)
            hop = int(hop_seconds * data.sample_rate) if hop_seconds > 0 else clip // 2
            windows, starts = audio.sliding_windows(full, clip, hop)
            window_probs = self._calibrate(self.run.predict_probs(
                self.state, list(windows), num_crops=1, speaker_stats=tile(len(windows))))
            probs = window_probs.mean(axis=0)
            result["segments"] = [
                {
                    "start": round(s / data.sample_rate, 3),
                    "end": round(min(s + clip, len(full)) / data.sample_rate, 3),
                    **self.label(p),
                }
                for s, p in zip(starts, window_probs)
            ]
        return {**result, **self.label(probs)}

    def _calibrate(self, probs: np.ndarray) -> np.ndarray:
        if self.temperature is None:
            return probs
        return calibration.apply_temperature(probs, self.temperature)

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


def expand(paths: list[str]) -> Iterator[str]:
    """Files as given; folders walked for audio files of any accepted extension."""
    for p in paths:
        if os.path.isdir(p):
            yield from (str(f) for f in corpora.audio_files(p))
        else:
            yield p


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


def load_ensemble(workdirs: list[str]) -> list[Predictor]:
    """A Predictor per workdir; several must share the labels and the training window."""
    predictors = [Predictor(w) for w in workdirs]
    for other, workdir in zip(predictors[1:], workdirs[1:]):
        first = predictors[0]
        if other.labels != first.labels:
            raise ValueError(f"{workdir} labels {other.labels}, {workdirs[0]} {first.labels}: "
                             "an ensemble's runs must share data.task")
        if (other.config.data.clip_seconds, other.config.data.sample_rate) != (
                first.config.data.clip_seconds, first.config.data.sample_rate):
            raise ValueError(f"{workdir} and {workdirs[0]} differ in data.clip_seconds or "
                             "data.sample_rate: an ensemble's runs must share the window")
    return predictors


def main(argv):
    if len(argv) < 2:
        raise app.UsageError("give audio files or folders to label")
    if not flags.FLAGS.workdir:
        raise app.UsageError("--workdir is required")
    input_pipeline.hide_gpus_from_tf()
    try:
        predictors = load_ensemble(flags.FLAGS.workdir)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    paths = list(expand(argv[1:]))
    speaker_stats = []
    for predictor in predictors:
        stats = None
        if predictor.needs_speaker:
            try:
                stats = predictor.adapt_to_speaker(paths)
            except ValueError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
            logging.info("the model adapts to the speaker (features.normalize=%s, "
                         "train.bn_statistics=%s): the %d files are taken as one speaker's",
                         predictor.config.features.normalize,
                         predictor.config.train.bn_statistics, len(paths))
        speaker_stats.append(stats)
    out = open(flags.FLAGS.output, "w") if flags.FLAGS.output else sys.stdout
    count = errors = 0
    try:
        for path in paths:
            lines = [p.predict_file(path, flags.FLAGS.hop_seconds, stats)
                     for p, stats in zip(predictors, speaker_stats)]
            line = mean_line(lines, predictors[0].label) if len(lines) > 1 else lines[0]
            errors += "error" in line
            count += 1
            out.write(json.dumps(line) + "\n")
            out.flush()
    finally:
        if out is not sys.stdout:
            out.close()
    logging.info(
        "labelled %d files (%d unreadable) on %s", count, errors, jax.devices()[0].platform
    )
    if flags.FLAGS.output:
        print(
            f"wrote {count} predictions ({errors} unreadable files) to {flags.FLAGS.output}",
            file=sys.stderr,
        )
    return 0


def define_flags():
    """Command-line flags, defined only when run as a program, so the module imports cleanly."""
    flags.DEFINE_list("workdir", None, "Workdir of a finished training run; several, comma-"
                      "separated, label as an ensemble (their probabilities averaged).")
    flags.DEFINE_string("output", "", "JSON-lines file to write; default: standard output.")
    flags.DEFINE_float(
        "hop_seconds", 0.0, "Hop of the sliding window; 0 = half the training window."
    )


if __name__ == "__main__":
    define_flags()
    app.run(main)
