"""Long recordings for prediction: streamed decoding, speech regions, windows over speech, the
windows read back, merged segments and the timeline plot, on a recording of known utterances."""

import glob
import os

import numpy as np
import pytest
import soundfile as sf

from jax_ser.data import audio, synthetic
from jax_ser.evaluate import long_recordings as lr
from tests.conftest import shared_corpus
from tests.test_audio import BAD_FILES

SR = 16000  # the model's rate
FILE_RATE = 48000  # the recording's, so that reading resamples
CLIP, HOP = SR, SR // 2  # a 1 s window every 0.5 s: several windows per utterance
TOLERANCE = int(0.5 * SR)  # detected speech edges within 0.5 s of the true ones
LABELS = ["neutral", "happy", "sad"]


def _trimmed(wave: np.ndarray, rate: int) -> tuple[int, int]:
    """[start, end) of `wave` less its edges quieter than 30 dB under its loudest 20 ms, as
    training trims (audio.preprocess; librosa.effects.trim's first call compiles for 30 s)."""
    frame = rate // 50
    power = np.square(wave[:len(wave) // frame * frame], dtype=np.float64).reshape(-1, frame)
    db = 10 * np.log10(power.mean(axis=1) + 1e-20)
    loud = np.flatnonzero(db > db.max() - 30)
    return int(loud[0]) * frame, int(loud[-1] + 1) * frame


def _utterance(actor: int, emotion: int, rate: int) -> np.ndarray:
    """A synthetic take without its lead-in and tail of room noise."""
    take = synthetic.take(actor, emotion, 1, 1, 1, sample_rate=rate)
    start, end = _trimmed(take, rate)
    return take[start:end]


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """(48 kHz WAV path, true speech spans in 16 kHz samples): four utterances 4-10 dB apart in
    level, one of them two takes with a 0.25 s pause inside (one utterance), in -60 dBFS noise
    with pauses of 1-2 s between them."""
    rng = np.random.default_rng(0)
    pause = lambda s: np.zeros(int(s * FILE_RATE), np.float32)
    utterances = [
        _utterance(1, 5, FILE_RATE),
        np.concatenate([_utterance(2, 4, FILE_RATE), pause(0.25), _utterance(2, 2, FILE_RATE)]),
        _utterance(3, 3, FILE_RATE),
        _utterance(4, 6, FILE_RATE),
    ]
    gains_db = [0.0, -10.0, -4.0, -9.0]
    pieces, truth, at = [pause(1.2)], [], len(pause(1.2))
    for wave, gain_db, gap in zip(utterances, gains_db, [1.5, 1.0, 2.0, 1.3]):
        truth.append((round(at * SR / FILE_RATE), round((at + len(wave)) * SR / FILE_RATE)))
        pieces += [wave * np.float32(10 ** (gain_db / 20)), pause(gap)]
        at += len(wave) + len(pause(gap))
    wave = np.concatenate(pieces)
    wave += np.float32(1e-3) * rng.standard_normal(len(wave)).astype(np.float32)  # -60 dBFS
    path = str(tmp_path_factory.mktemp("long") / "long.wav")
    sf.write(path, wave, FILE_RATE)
    return path, truth


@pytest.fixture(scope="module")
def loaded(recording):
    return audio.load(recording[0], SR)


def test_blocks_join_to_what_load_decodes(recording, loaded, tmp_path):
    path, _ = recording
    streamed = np.concatenate(list(lr.blocks(path, SR, block_seconds=0.7)))
    assert streamed.dtype == np.float32 and len(streamed) == len(loaded)
    assert np.abs(streamed - loaded).max() < 1e-5
    # 44.1 kHz stereo is averaged as audio.load averages it; at the file's rate nothing changes.
    left = sf.read(path, frames=3 * FILE_RATE, dtype="float32")[0]
    stereo = str(tmp_path / "stereo.flac")
    sf.write(stereo, np.stack([left, 0.5 * np.roll(left, 99)], axis=1), 44100)
    streamed = np.concatenate(list(lr.blocks(stereo, SR, block_seconds=0.3)))
    loaded = audio.load(stereo, SR)
    assert len(streamed) == len(loaded) and np.abs(streamed - loaded).max() < 1e-5
    same_rate = np.concatenate(list(lr.blocks(stereo, 44100, block_seconds=0.3)))
    np.testing.assert_array_equal(same_rate, audio.load(stereo, 44100))


@pytest.mark.parametrize("kind", BAD_FILES)
def test_a_bad_file_fails_the_first_pass_as_load_fails(tmp_path, kind):
    make, name, reason = BAD_FILES[kind]
    path = make(tmp_path / name)
    with pytest.raises(audio.BadAudioError) as caught:
        lr.activity(path, SR)
    assert (caught.value.path, caught.value.reason) == (path, reason)


def test_what_libsndfile_cannot_open_is_decoded_whole_by_load(tmp_path, monkeypatch):
    path = BAD_FILES["text named .wav"][0](tmp_path / "x.m4a")
    wave = (0.1 * np.random.default_rng(2).standard_normal((3 * 22050, 2))).astype(np.float32)
    monkeypatch.setattr(audio, "_decode_with_audioread", lambda p: (wave, 22050))
    streamed = np.concatenate(list(lr.blocks(path, SR, block_seconds=0.5)))
    np.testing.assert_array_equal(streamed, audio.load(path, SR))

    def undecodable(p):
        raise EOFError("no backend")

    monkeypatch.setattr(audio, "_decode_with_audioread", undecodable)
    with pytest.raises(audio.BadAudioError) as caught:
        next(lr.blocks(path, SR))
    with pytest.raises(audio.BadAudioError) as loading:
        audio.load(path, SR)
    assert caught.value.reason == loading.value.reason and "unreadable" in loading.value.reason


def test_speech_regions_are_the_utterances(recording, loaded):
    path, truth = recording
    found = lr.activity(path, SR)
    assert found.length == len(loaded)
    assert found.peak == pytest.approx(np.abs(loaded).max(), rel=1e-6)
    assert len(found.regions) == len(truth)
    for (start, end), (true_start, true_end) in zip(found.regions, truth):
        assert abs(start - true_start) < TOLERANCE and abs(end - true_end) < TOLERANCE
    in_memory = lr.activity(loaded, SR)  # as the Python API passes waves
    assert (in_memory.regions, in_memory.length) == (found.regions, found.length)


def test_activity_of_noise_alone_and_of_one_burst():
    rng = np.random.default_rng(1)
    noise = (1e-4 * rng.standard_normal(2 * SR)).astype(np.float32)  # -80 dBFS: under the floor
    assert lr.activity(noise, SR).regions == []
    click = noise.copy()
    click[SR:SR + SR // 20] = 0.5  # 50 ms: shorter than MIN_SPEECH_SECONDS
    assert lr.activity(click, SR).regions == []
    burst = noise.copy()
    burst[SR // 20:SR] = 0.5  # padded, but not past the recording's start
    assert lr.activity(burst, SR).regions == [(0, SR + int(lr.PAD_SECONDS * SR))]


def test_windows_cover_regions_and_nothing_between():
    regions = [(100, 400), (1000, 2150), (3000, 3500)]
    spans = lr.windows(regions, clip_samples=500, hop_samples=250)
    assert spans == [(100, 400),  # shorter than a window: the region itself
                     (1000, 1500), (1250, 1750), (1500, 2000), (1650, 2150),  # last ends at end
                     (3000, 3500)]  # exactly one window
    assert lr.windows([], 500, 250) == []


def test_no_window_or_segment_lies_in_a_silence(recording):
    path, truth = recording
    spans = lr.windows(lr.activity(path, SR).regions, CLIP, HOP)
    assert len(spans) > len(truth)  # some utterances get several windows
    near = lambda start, end: [i for i, (s, e) in enumerate(truth)
                               if s - TOLERANCE <= start and end <= e + TOLERANCE]
    assert all(len(near(s, e)) == 1 for s, e in spans)
    probs = np.eye(len(LABELS))[np.arange(len(spans)) % len(LABELS)]
    segments = lr.segments(spans, probs, LABELS, SR)
    for seg in segments:
        assert len(near(seg["start"] * SR, seg["end"] * SR)) == 1
    # Agreeing windows merge into one segment per utterance, never across the pauses.
    merged = lr.segments(spans, np.tile([0.2, 0.7, 0.1], (len(spans), 1)), LABELS, SR)
    assert len(merged) == len(truth)


def test_read_streams_the_windows_of_the_loaded_wave(recording, loaded):
    path, _ = recording
    found = lr.activity(path, SR)
    spans = lr.windows(found.regions, CLIP, HOP)
    gain = 0.95 / found.peak
    expected = [loaded[s:e] * np.float32(gain) for s, e in spans]
    for source in (path, loaded):
        read = list(lr.read(source, spans, SR, gain, block_seconds=0.7))
        assert [len(w) for w in read] == [e - s for s, e in spans]
        assert all(w.dtype == np.float32 for w in read)
        assert max(np.abs(w - x).max() for w, x in zip(read, expected)) < 1e-5
    with pytest.raises(ValueError, match="sorted"):
        next(lr.read(loaded, spans[::-1], SR))
    with pytest.raises(ValueError, match="past the recording's end"):
        list(lr.read(loaded, [(len(loaded) - 10, len(loaded) + 10)], SR))


def test_segments_merge_agreeing_windows_and_split_overlaps_in_the_middle():
    spans = [(0, 100), (50, 150), (100, 200),  # one region, windows overlapping by half
             (300, 350),  # the next region, after a pause
             (400, 500), (500, 600)]  # touching windows
    probs = np.array([[0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.1, 0.8, 0.1],
                      [0.2, 0.7, 0.1],
                      [0.0, 0.1, 0.9], [0.1, 0.2, 0.7]])
    assert lr.segments(spans, probs, LABELS, sample_rate=100) == [
        {"start": 0.0, "end": 1.25, "label": "neutral",  # overlap [1.0, 1.5]: split at 1.25
         "probs": {"neutral": 0.55, "happy": 0.35, "sad": 0.1}},
        {"start": 1.25, "end": 2.0, "label": "happy",
         "probs": {"neutral": 0.1, "happy": 0.8, "sad": 0.1}},
        {"start": 3.0, "end": 3.5, "label": "happy",  # same label, but across a pause
         "probs": {"neutral": 0.2, "happy": 0.7, "sad": 0.1}},
        {"start": 4.0, "end": 6.0, "label": "sad",
         "probs": {"neutral": 0.05, "happy": 0.15, "sad": 0.8}},
    ]
    rounded = lr.segments([(0, 1)], [[1 / 3, 2 / 3]], ["a", "b"], 3)
    assert rounded == [{"start": 0.0, "end": 0.333, "label": "b",
                        "probs": {"a": 0.33333, "b": 0.66667}}]


def test_plot_timeline_writes_a_png(tmp_path):
    line = {"path": "/x/long.wav", "duration_s": 6.5, "label": "sad",
            "probs": {"neutral": 0.2, "happy": 0.3, "sad": 0.5},
            "segments": [{"start": 0.0, "end": 1.25, "label": "neutral"},
                         {"start": 1.25, "end": 2.0, "label": "happy"},
                         {"start": 4.0, "end": 6.0, "label": "sad"}]}
    lr.plot_timeline(line, tmp_path / "one.png")
    lr.plot_timeline([line, {"path": "/x/bad.wav", "error": "silent"}],
                     tmp_path / "sub" / "two.png")
    for name in ("one.png", "sub/two.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_real_ravdess_takes_with_pauses():
    """Five takes of one real actor, calm to angry, joined with their own lead-ins and tails:
    one region per take, edges within 0.5 s of each take trimmed at 30 dB."""
    root = shared_corpus("ravdess")
    names = ["03-01-02-01-01-01-01", "03-01-05-02-01-01-01", "03-01-04-01-02-01-01",
             "03-01-03-02-02-01-01", "03-01-06-01-01-01-01"]
    paths = [glob.glob(os.path.join(root, "Actor_01", name + ".*"))[0] for name in names]
    takes = [audio.load(p, SR) for p in paths]
    truth, at = [], 0
    for take in takes:
        start, end = _trimmed(take, SR)
        truth.append((at + start, at + end))
        at += len(take)
    regions = lr.activity(np.concatenate(takes), SR).regions
    assert len(regions) == len(truth)
    for (start, end), (true_start, true_end) in zip(regions, truth):
        assert abs(start - true_start) < TOLERANCE and abs(end - true_end) < TOLERANCE
