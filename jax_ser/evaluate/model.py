"""A trained model as a Python object, `jax_ser.load(workdir)`: what jax_ser.predict and the
export label with.

    model = jax_ser.load("runs/resnet18_mel")     # a list of workdirs is an ensemble
    model.predict(waveform, sample_rate)            # {"label", "probs", "duration_s", ...}
    for line in model.predict_files(paths): ...
    model = model.adapt(recordings_of_one_speaker)  # models that adapt to the speaker

A recording that fits the training window after edge-silence trimming gets the evaluation's
crops. A longer one is labelled where there is speech (jax_ser.evaluate.long_recordings): windows
over the speech only, merged into `segments` where consecutive windows agree; its probabilities
are the windows' mean. Files are decoded ahead in threads while the model labels, and short ones
share device batches; a long file is read in two streaming passes (voice activity, then its
windows), so memory does not grow with its length.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import logging
import os
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import ml_collections
import numpy as np
import soundfile as sf

from jax_ser.data import audio
from jax_ser.data import load as data_load
from jax_ser.evaluate import calibration, long_recordings, trained
from jax_ser.evaluate.trained import Trained

log = logging.getLogger(__name__)

# Files longer than this are streamed in two passes instead of decoded whole (a minute of 48 kHz
# stereo is 23 MB): memory stays flat for an hour-long recording.
STREAM_SECONDS = 60.0
# Recordings decoded ahead of the model: enough to fill an evaluation batch of short files.
DECODE_AHEAD = 128


@dataclasses.dataclass
class _Recording:
    """One input made ready for the model: `wave` when it fits the window, else `source` (a path,
    or the whole mono wave) and its voice `activity`; `error` when it cannot be read."""

    name: str | None
    duration_s: float = 0.0
    wave: np.ndarray | None = None
    source: str | np.ndarray | None = None
    activity: long_recordings.Activity | None = None
    error: str | None = None


class Model:
    """Trained members (one, or an ensemble averaging their calibrated probabilities; an in-step
    ensemble's members are averaged before their run's temperature), each adapted to `speaker`
    where its config adapts to the speaker (`adapt`)."""

    def __init__(self, members: Sequence[Trained], adapted: Sequence | None = None,
                 speaker: str | None = None):
        self.members = list(members)
        self.adapted = list(adapted) if adapted is not None else [None] * len(self.members)
        self.speaker = speaker
        first = self.members[0]
        self.config = first.config
        self.labels = list(first.labels)
        self.sample_rate = first.config.data.sample_rate
        self.clip_samples = first.runner.clip_samples
        self.batch_size = first.config.eval.batch_size

    @property
    def needs_speaker(self) -> bool:
        """Whether labels depend on the speaker's other recordings (jax_ser.adapt)."""
        return any(m.needs_speaker for m in self.members)

    def adapt(self, recordings: Iterable, speaker: str | None = None) -> Model:
        """This model adapted to one speaker from their `recordings` (paths, mono arrays at
        `sample_rate`, or (array, rate) pairs); unreadable files are logged and left out."""
        waves = []
        for recording in recordings:
            try:
                waves.append(self.members[0].preprocess(self._decode(recording)))
            except audio.BadAudioError as e:
                log.warning("left out of the speaker's recordings: %s: %s", e.path, e.reason)
        if not waves:
            raise ValueError("no readable recording to adapt to the speaker")
        return self.adapted_to(waves, speaker)

    def adapted_to(self, waves: Sequence[np.ndarray], speaker: str | None = None) -> Model:
        """`adapt` from preprocessed waves (a prepared dataset's records, say)."""
        return Model(self.members, [m.adapt(waves) if m.needs_speaker else None
                                    for m in self.members], speaker)

    def probs(self, waves: Sequence[np.ndarray], num_crops: int | None = None) -> np.ndarray:
        """Calibrated class probabilities [len(waves), C] of preprocessed waves, averaged over
        the members."""
        raw = [m.probs(waves, num_crops, a, calibrated=False)
               for m, a in zip(self.members, self.adapted)]
        calibrated = []
        for temperature, indices in trained.calibration_groups(self.members):
            mean = np.mean([raw[i] for i in indices], axis=0)
            calibrated.append(mean if temperature is None
                              else calibration.apply_temperature(mean, temperature))
        return np.mean(calibrated, axis=0)

    def predict(self, waveform: np.ndarray, sample_rate: int, hop_seconds: float = 0.0) -> dict:
        """One recording's line (label, probs, duration_s; segments when it is long) from an
        array [samples] or [samples, channels] ([channels, samples] is recognised too)."""
        data = np.asarray(waveform)
        if data.ndim == 2 and data.shape[0] < data.shape[1]:
            data = data.T
        wave = audio.mono(data, sample_rate, self.sample_rate)
        return next(self._lines([self._recording(None, wave)], hop_seconds))

    def predict_files(self, paths: Iterable[str], hop_seconds: float = 0.0) -> Iterator[dict]:
        """A line per file, in order: as `predict`, with its path, or an `error` line for a file
        that cannot be read. `hop_seconds`: hop of the windows on long recordings (default half
        a window)."""
        yield from self._lines(self._decoded(paths), hop_seconds)

    def predict_dataset(self, corpus: str, data_dir: str = "") -> Iterator[dict]:
        """A line per utterance of a prepared dataset (jax_ser.prepare, with this model's
        data settings), in its order; each speaker's adapted to where the model adapts. The
        records are preprocessed already, so they go to the model as they are."""
        config = ml_collections.ConfigDict(self.config.to_dict())
        config.data.update(source="tfds", data_dir=data_dir, corpus=corpus, root="")
        utterances = data_load.corpus_utterances(config, corpus)
        decoded = data_load.decode(config, utterances)
        groups = collections.defaultdict(list)
        for u in utterances:
            groups[u.speaker_key if self.needs_speaker else None].append(u)
        for speaker, own in groups.items():
            kept = [u for u in own if u.path in decoded.waves]
            model = self.adapted_to(decoded.of(kept), speaker) if speaker and kept else self
            for batch in _batches(iter(own), self.batch_size):  # each record read once here
                waves = {u.path: decoded.waves[u.path] for u in batch if u.path in decoded.waves}
                probs = iter(model.probs(list(waves.values())) if waves else ())
                for u in batch:
                    head = {"path": u.path, **({"speaker": speaker} if speaker else {})}
                    if u.path not in waves:
                        yield {**head, "error": decoded.bad[u.path]}
                        continue
                    duration = round(len(waves[u.path]) / self.sample_rate, 3)
                    yield {**head, "duration_s": duration, **self.label(next(probs))}

    def _decode(self, recording) -> np.ndarray:
        if isinstance(recording, (str, os.PathLike)):
            return audio.load(recording, self.sample_rate)
        if isinstance(recording, tuple):
            return audio.mono(recording[0], recording[1], self.sample_rate)
        return audio.mono(recording, self.sample_rate, self.sample_rate)

    def _recording(self, name: str | None, raw: np.ndarray) -> _Recording:
        """A decoded recording, trimmed; kept whole, with its voice activity, when it outgrows
        the window."""
        duration = round(len(raw) / self.sample_rate, 3)
        wave = self.members[0].preprocess(raw)
        if len(wave) <= self.clip_samples:
            return _Recording(name, duration, wave=wave)
        return _Recording(name, duration, source=raw,
                          activity=long_recordings.activity(raw, self.sample_rate))

    def _read(self, path: str) -> _Recording:
        try:
            try:
                long = sf.info(path).duration > STREAM_SECONDS
            except (sf.LibsndfileError, RuntimeError):
                long = False  # audio.load says why, or decodes what libsndfile cannot
            if not long:
                return self._recording(path, audio.load(path, self.sample_rate))
            activity = long_recordings.activity(path, self.sample_rate)
        except audio.BadAudioError as e:
            return _Recording(path, error=e.reason)
        return _Recording(path, round(activity.length / self.sample_rate, 3), source=path,
                          activity=activity)

    def _decoded(self, paths: Iterable[str]) -> Iterator[_Recording]:
        """Recordings in order, decoded by two threads up to DECODE_AHEAD ahead."""
        paths = iter(paths)
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
        try:
            ahead = collections.deque(pool.submit(self._read, os.fspath(p))
                                      for p in _take(paths, DECODE_AHEAD))
            while ahead:
                done = ahead.popleft().result()
                ahead.extend(pool.submit(self._read, os.fspath(p)) for p in _take(paths, 1))
                yield done
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _lines(self, recordings: Iterable[_Recording], hop_seconds: float) -> Iterator[dict]:
        """Lines in input order. Recordings held in memory are labelled together, a batch of
        waves and windows at a time; a streamed one alone, its windows read as they are
        labelled."""
        waiting, pieces = [], 0
        for recording in recordings:
            if isinstance(recording.source, str):  # streamed
                yield from self._labelled(waiting, hop_seconds)
                waiting, pieces = [], 0
                spans = self._spans(recording, hop_seconds)
                windows = long_recordings.read(recording.source, spans, self.sample_rate,
                                               self._gain(recording))
                probs = [self.probs(batch, num_crops=1)
                         for batch in _batches(windows, self.batch_size)]
                yield self._long_line(recording, spans, probs)
                continue
            waiting.append(recording)
            if recording.wave is not None:
                pieces += 1
            elif recording.activity is not None:
                pieces += len(self._spans(recording, hop_seconds))
            if pieces >= self.batch_size:
                yield from self._labelled(waiting, hop_seconds)
                waiting, pieces = [], 0
        yield from self._labelled(waiting, hop_seconds)

    def _labelled(self, recordings: list[_Recording], hop_seconds: float) -> Iterator[dict]:
        """Lines of recordings held in memory: the short ones' waves in one call, the long
        ones' windows over their speech in another."""
        short = [r.wave for r in recordings if r.wave is not None]
        short_probs = iter(self.probs(short) if short else ())
        long = [r for r in recordings if r.activity is not None]
        spans = [self._spans(r, hop_seconds) for r in long]
        windows = [w for r, s in zip(long, spans)
                   for w in long_recordings.read(r.source, s, self.sample_rate, self._gain(r))]
        window_probs = self.probs(windows, num_crops=1) if windows else None
        offsets = np.cumsum([0] + [len(s) for s in spans])
        long_lines = iter(self._long_line(r, s, [] if window_probs is None else
                                          [window_probs[a:b]])
                          for r, s, a, b in zip(long, spans, offsets, offsets[1:]))
        for recording in recordings:
            if recording.activity is not None:
                yield next(long_lines)
            elif recording.wave is not None:
                yield {**self._head(recording), **self.label(next(short_probs))}
            else:
                yield self._head(recording)

    def _head(self, recording: _Recording) -> dict:
        head = {} if recording.name is None else {"path": recording.name}
        if self.speaker is not None:
            head["speaker"] = self.speaker
        if recording.error is not None:
            return {**head, "error": recording.error}
        return {**head, "duration_s": recording.duration_s}

    def _spans(self, recording: _Recording, hop_seconds: float) -> list[tuple[int, int]]:
        """The windows over a long recording's speech."""
        hop = (int(hop_seconds * self.sample_rate) if hop_seconds > 0
               else self.clip_samples // 2)
        return long_recordings.windows(recording.activity.regions, self.clip_samples, hop)

    def _gain(self, recording: _Recording) -> float:
        """audio.preprocess's peak normalisation, for windows read from the raw recording."""
        peak = recording.activity.peak
        return 0.95 / peak if self.config.data.normalize and peak > 0 else 1.0

    def _long_line(self, recording: _Recording, spans, probs: list[np.ndarray]) -> dict:
        """A long recording's line from its windows' probabilities (in parts)."""
        rate = self.sample_rate
        probs = np.concatenate(probs) if probs else np.zeros((0, len(self.labels)))
        speech = sum(end - start for start, end in recording.activity.regions)
        line = {**self._head(recording), "speech_s": round(speech / rate, 3),
                "segments": long_recordings.segments(spans, probs, self.labels, rate)}
        if not len(probs):  # silence only: no emotion to report
            return {**line, "label": None, "probs": None}
        return {**line, **self.label(probs.mean(axis=0))}

    def label(self, probs: np.ndarray) -> dict:
        """The most probable label and every class's probability, rounded."""
        return {
            "label": self.labels[int(np.argmax(probs))],
            "probs": {c: round(float(p), 5) for c, p in zip(self.labels, probs)},
        }


def _take(items: Iterator, n: int) -> list:
    return [item for _, item in zip(range(n), items)]


def _batches(items: Iterator, size: int) -> Iterator[list]:
    while batch := _take(items, size):
        yield batch


def load(workdirs) -> Model:
    """The model of a finished run's workdir, or an ensemble of several (their runs must share
    the labels and the training window)."""
    workdirs = [workdirs] if isinstance(workdirs, (str, os.PathLike)) else list(workdirs)
    if not workdirs:
        raise ValueError("no workdir given")
    members = [m for w in workdirs for m in trained.members(Path(w))]
    first = members[0]
    for other in members[1:]:
        workdir = other.workdir
        if other.labels != first.labels:
            raise ValueError(f"{workdir} labels {other.labels}, {workdirs[0]} {first.labels}: "
                             "an ensemble's runs must share data.task")
        if (other.config.data.clip_seconds, other.config.data.sample_rate) != (
                first.config.data.clip_seconds, first.config.data.sample_rate):
            raise ValueError(f"{workdir} and {workdirs[0]} differ in data.clip_seconds or "
                             "data.sample_rate: an ensemble's runs must share the window")
    return Model(members)
