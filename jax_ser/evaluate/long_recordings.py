"""Long recordings for prediction: stream the file, find the speech, window only the speech, read
the windows back, merge the windows' labels into segments, draw the timeline.

Why: a recording of minutes or hours must neither be held whole in memory nor be labelled in
its pauses, where a model trained on trimmed utterances says nothing meaningful. The prediction
path makes two sequential passes over a file: `activity` (speech regions, length and peak),
then `read` of the `windows` over those regions, each window normalised by the peak as
`audio.preprocess` does. Everything here is numpy; no model is involved.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Iterator, Sequence

import numpy as np
import soundfile as sf
import soxr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from jax_ser.data import audio

Source = str | os.PathLike | np.ndarray  # a file, or a mono wave at the requested rate

# Decoded seconds per block: bounds memory (10 s of 48 kHz stereo float32 is under 4 MB) while
# keeping per-block overhead (libsndfile and soxr calls) negligible.
BLOCK_SECONDS = 10.0

# Voice activity. Frame RMS over 25 ms (one pitch period of even a low voice fits twice; the
# usual speech-analysis frame), non-overlapping so a streaming pass only carries a remainder.
FRAME_SECONDS = 0.025
# A frame is speech when louder than the loudest frame less TOP_DB: one speaker's utterances
# differ by 20-30 dB (a calm take against an angry one of the same RAVDESS actor) and a sentence's
# weak syllables lie 20-30 dB under its vowels, while the pauses of a usable recording lie 40 dB
# or more under its loudest speech. On recordings of 5 takes of one RAVDESS actor, 40 dB misses
# 4% of the speech (each take trimmed at 30 dB) and keeps 8% of the rest; 30 dB misses 14%.
TOP_DB = 40.0
# ...and louder than FLOOR_DBFS, so that a recording of near silence is not all "speech" because
# its loudest noise frame set the relative threshold. Low, because recordings can be quiet:
# RAVDESS takes peak at -50 to -8 dBFS (25 ms RMS), their pauses lie at -120 to -60 dBFS.
FLOOR_DBFS = -70.0
# Dips shorter than this are part of the utterance: stop closures, word boundaries and phrase
# pauses inside a sentence, so a sentence stays one region and gets the context the model was
# trained with rather than padded fragments. RAVDESS sentences pause for up to 0.7 s inside:
# 0.5 s splits 4% of takes in two, 0.3 s 13%; pauses between utterances are longer.
MIN_PAUSE_SECONDS = 0.5
# Bursts shorter than this are clicks, knocks or breaths, not utterances (a short word lasts
# about 0.2 s).
MIN_SPEECH_SECONDS = 0.2
# Edge padding: a threshold on energy cuts soft onsets and releases (fricatives, breathy endings)
# that lie under it. Smaller than MIN_PAUSE_SECONDS / 2, so padding never joins two regions.
PAD_SECONDS = 0.1


def blocks(source: Source, sample_rate: int, block_seconds: float = BLOCK_SECONDS
           ) -> Iterator[np.ndarray]:
    """float32 mono blocks of `source` at `sample_rate`, decoded and resampled as they are read.

    A path is decoded with libsndfile block by block, channels averaged and resampled with a
    soxr stream (quality audio.RESAMPLE_QUALITY), so the blocks joined equal audio.load's wave
    while only one block is in memory. A file libsndfile cannot open (e.g. mp3) is decoded
    whole by audio.load. Raises audio.BadAudioError as audio.load does: when the file is missing
    or unreadable, its header promises more than it holds, or a block is not finite (only once
    that block is reached), or it holds no samples. An array is taken as mono at `sample_rate`
    and sliced.
    """
    if not isinstance(source, (str, os.PathLike)):
        wave = np.asarray(source, dtype=np.float32)
        step = max(1, int(block_seconds * sample_rate))
        for start in range(0, len(wave), step):
            yield wave[start:start + step]
        return
    path = os.fspath(source)
    if not os.path.isfile(path):
        raise audio.BadAudioError(path, "unreadable: no such file")
    try:
        f = sf.SoundFile(path)
    except sf.LibsndfileError:
        yield from blocks(audio.load(path, sample_rate), sample_rate, block_seconds)
        return
    with f:
        if audio.header_promises_more(f.extra_info):
            raise audio.BadAudioError(path, "truncated")
        rate = f.samplerate
        stream = (None if rate == sample_rate else
                  soxr.ResampleStream(rate, sample_rate, 1, dtype="float32",
                                      quality=audio.RESAMPLE_QUALITY))
        frames = 0
        try:
            for data in f.blocks(max(1, int(block_seconds * rate)), dtype="float32",
                                 always_2d=True):
                if not np.isfinite(data).all():
                    raise audio.BadAudioError(path, "non-finite samples")
                frames += len(data)
                wave = data.mean(axis=1, dtype=np.float32)
                yield wave if stream is None else stream.resample_chunk(wave)
        except sf.LibsndfileError as error:
            raise audio.BadAudioError(path, "truncated") from error
        if frames == 0:
            raise audio.BadAudioError(path, "empty")
        if frames < f.frames:
            raise audio.BadAudioError(path, "truncated")
        if stream is not None:
            yield stream.resample_chunk(np.zeros(0, np.float32), last=True)


@dataclasses.dataclass(frozen=True)
class Activity:
    """One pass over a recording: where the speech is, how long it is, its peak."""

    regions: list[tuple[int, int]]  # [start, end) samples at the pass's rate, sorted, disjoint
    length: int  # samples
    peak: float  # max |sample|: audio.preprocess normalises by 0.95 / peak


def activity(source: Source, sample_rate: int) -> Activity:
    """Speech regions of `source` (a path or a mono array at `sample_rate`) by frame energy,
    in one streaming pass (`blocks`); memory grows by one float per 25 ms frame only.

    Frames louder than max(loudest frame - TOP_DB, FLOOR_DBFS) are speech; dips shorter than
    MIN_PAUSE_SECONDS are closed, bursts shorter than MIN_SPEECH_SECONDS dropped, and the
    regions padded by PAD_SECONDS within the recording. A file that audio.load would reject
    raises its audio.BadAudioError ("silent", "too short" included).
    """
    frame = max(1, round(FRAME_SECONDS * sample_rate))
    energies, rest = [], np.zeros(0, np.float32)
    length, peak = 0, 0.0
    for block in blocks(source, sample_rate):
        length += len(block)
        peak = max(peak, float(np.abs(block).max(initial=0.0)))
        data = np.concatenate([rest, block])
        whole = len(data) // frame * frame
        energies.append(np.square(data[:whole], dtype=np.float64).reshape(-1, frame).mean(axis=1))
        rest = data[whole:]
    if len(rest):
        energies.append(np.square(rest, dtype=np.float64).mean(keepdims=True))
    if isinstance(source, (str, os.PathLike)):
        if peak < audio.SILENCE_PEAK:
            raise audio.BadAudioError(os.fspath(source), "silent")
        if length < audio.MIN_SAMPLES:
            raise audio.BadAudioError(os.fspath(source), "too short")
    db = 10 * np.log10(np.concatenate(energies) + 1e-20) if energies else np.zeros(0)
    speech = db > max(db.max(initial=-np.inf) - TOP_DB, FLOOR_DBFS)
    edges = np.flatnonzero(np.diff(speech.astype(np.int8), prepend=0, append=0))
    runs = [(int(s) * frame, min(int(e) * frame, length)) for s, e in edges.reshape(-1, 2)]
    closed: list[list[int]] = []
    for start, end in runs:
        if closed and start - closed[-1][1] < MIN_PAUSE_SECONDS * sample_rate:
            closed[-1][1] = end
        else:
            closed.append([start, end])
    pad = round(PAD_SECONDS * sample_rate)
    regions = [(max(0, start - pad), min(length, end + pad)) for start, end in closed
               if end - start >= MIN_SPEECH_SECONDS * sample_rate]
    return Activity(regions, length, peak)


def windows(regions: Sequence[tuple[int, int]], clip_samples: int, hop_samples: int
            ) -> list[tuple[int, int]]:
    """[start, end) spans of the model's windows over the speech regions only, in order.

    A region no longer than a window is one span, the region itself (the model pads it); a
    longer one gets `clip_samples` windows every `hop_samples`, the last ending at the region's
    end, as audio.sliding_windows places them. No span reaches into the silence between regions.
    """
    spans = []
    for start, end in regions:
        if end - start <= clip_samples:
            spans.append((int(start), int(end)))
            continue
        starts = list(range(start, end - clip_samples + 1, hop_samples))
        if starts[-1] != end - clip_samples:
            starts.append(end - clip_samples)
        spans += [(int(s), int(s) + clip_samples) for s in starts]
    return spans


def read(source: Source, spans: Sequence[tuple[int, int]], sample_rate: int, gain: float = 1.0,
         block_seconds: float = BLOCK_SECONDS) -> Iterator[np.ndarray]:
    """Each span's samples of `source` times `gain` (float32, its own array), in one sequential
    pass of `blocks`: only the blocks overlapping the spans not yet yielded are kept, so memory
    is a window and a block, whatever the recording's length. `spans` must be sorted by start
    and lie within the recording (ValueError otherwise).
    """
    if any(b[0] < a[0] for a, b in itertools.pairwise(spans)):
        raise ValueError("spans must be sorted by start")
    gain = np.float32(gain)
    buffer, offset = np.zeros(0, np.float32), 0  # buffer[0] is sample `offset`
    stream = blocks(source, sample_rate, block_seconds)
    for start, end in spans:
        while True:  # drop what lies before this span, read on until its end is in
            cut = min(max(start - offset, 0), len(buffer))
            buffer, offset = buffer[cut:], offset + cut
            if offset + len(buffer) >= end:
                break
            block = next(stream, None)
            if block is None:
                raise ValueError(f"span [{start}, {end}) past the recording's end "
                                 f"({offset + len(buffer)} samples)")
            buffer = np.concatenate([buffer, block])
        yield buffer[start - offset:end - offset] * gain
    stream.close()


def segments(spans: Sequence[tuple[int, int]], probs: np.ndarray, labels: Sequence[str],
             sample_rate: int) -> list[dict]:
    """Labelled segments of a recording from its windows' probabilities ([K, C], one row per
    span, spans sorted): consecutive windows with the same most probable label merge when they
    touch or overlap, never across silence; where overlapping windows disagree the boundary is
    the middle of their overlap. A segment's probabilities are its windows' mean; seconds and
    probabilities are rounded as Trained.label rounds them.
    """
    probs = np.asarray(probs)
    if len(probs) != len(spans):
        raise ValueError(f"{len(probs)} probability rows for {len(spans)} spans")
    groups = []  # [label, rows, start, end]
    for i, (start, end) in enumerate(spans):
        label = int(np.argmax(probs[i]))
        if i and start <= spans[i - 1][1]:  # touches or overlaps the previous window
            if label == groups[-1][0]:
                groups[-1][1].append(i)
                groups[-1][3] = end
                continue
            start = groups[-1][3] = (start + spans[i - 1][1]) / 2  # middle of the overlap
        groups.append([label, [i], start, end])
    return [
        {"start": round(start / sample_rate, 3),
         "end": round(end / sample_rate, 3),
         "label": labels[label],
         "probs": {c: round(float(p), 5) for c, p in zip(labels, probs[rows].mean(axis=0))}}
        for label, rows, start, end in groups
    ]


def plot_timeline(lines: dict | Sequence[dict], path) -> None:
    """Saves a PNG of emotion timelines: one row per prediction line (one file), a bar per
    segment coloured by its label on a time axis in seconds, silence blank; an error line's row
    is empty and says why. Colours follow the labels' order in the lines' `probs`, so a label
    has the same colour in every row."""
    lines = [lines] if isinstance(lines, dict) else list(lines)
    labels = list(dict.fromkeys(
        c for line in lines
        for c in [*line.get("probs", {}), *(s["label"] for s in line.get("segments", []))]))
    colors = {c: f"C{i % 10}" for i, c in enumerate(labels)}
    fig = Figure(figsize=(10.0, 1.2 + 0.5 * len(lines)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    names, shown = [], set()
    for row, line in enumerate(lines):
        name = os.path.basename(str(line.get("path", f"#{row + 1}")))
        names.append(f"{name} ({line['error']})" if "error" in line else name)
        for seg in line.get("segments", []):
            ax.barh(row, seg["end"] - seg["start"], left=seg["start"], height=0.8,
                    color=colors[seg["label"]])
            shown.add(seg["label"])
    ax.set_yticks(range(len(lines)), names)
    ax.set_ylim(len(lines) - 0.5, -0.5)
    ax.set_xlim(0, max([line.get("duration_s", 0.0) for line in lines] + [1e-3]))
    ax.set_xlabel("time (s)")
    ax.legend(handles=[Patch(color=colors[c], label=c) for c in labels if c in shown],
              loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, format="png", dpi=100)
