import glob
import logging
import os
import struct
import warnings

import numpy as np
import pytest
import soundfile as sf

from jax_ser.data import audio

# audioread's standard-library backends import modules deprecated in Python 3.11 (aifc, sunau).
QUIET_AUDIOREAD = pytest.mark.filterwarnings("ignore::DeprecationWarning:audioread")
RAVDESS = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "ravdess")


def sine(rate, seconds, freq=440.0, amplitude=0.5):
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write(path, data, rate=16000, **kwargs):
    sf.write(path, data, rate, **kwargs)
    return str(path)


def cut(path, keep):
    data = open(path, "rb").read()
    open(path, "wb").write(data[:keep(len(data))])
    return str(path)


def test_resamples_48k_stereo_to_16k_mono_mean(tmp_path):
    stereo = np.stack([sine(48000, 0.5, amplitude=0.4), sine(48000, 0.5, amplitude=0.2)], axis=1)
    wave = audio.load(write(tmp_path / "s.wav", stereo, 48000, subtype="FLOAT"))
    assert wave.dtype == np.float32 and wave.shape == (8000,)
    expected = sine(16000, 0.5, amplitude=0.3)
    np.testing.assert_allclose(wave[200:-200], expected[200:-200], atol=2e-3)
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    assert np.fft.rfftfreq(len(wave), 1 / 16000)[spectrum.argmax()] == pytest.approx(440, abs=2)


@pytest.mark.parametrize("name,subtype,bits", [
    ("a.flac", "PCM_16", 16), ("a.aiff", "PCM_16", 16), ("a.wav", "PCM_24", 24),
    ("a.flac", "PCM_24", 24),
])
def test_decodes_formats_at_native_rate(tmp_path, name, subtype, bits):
    original = sine(16000, 0.25)
    wave = audio.load(write(tmp_path / name, original, subtype=subtype))
    np.testing.assert_allclose(wave, original, atol=2.0 ** -(bits - 1))


def text_file(p):
    p.write_text("this is not audio\n")
    return str(p)


def zero_bytes(p):
    p.write_bytes(b"")
    return str(p)


BAD_FILES = {
    "text named .wav": (text_file, "x.wav", "unreadable: Format not recognised"),
    "zero bytes": (zero_bytes, "z.wav", "unreadable: Format not recognised"),
    "header only": (lambda p: write(p, np.zeros(0, np.float32)), "h.wav", "empty"),
    "truncated wav": (lambda p: cut(write(p, sine(16000, 1)), lambda n: n // 2), "t.wav",
                      "truncated"),
    "truncated wav, header only": (lambda p: cut(write(p, sine(16000, 1)), lambda n: 44),
                                   "t.wav", "truncated"),
    "truncated flac": (lambda p: cut(write(p, sine(16000, 1)), lambda n: n // 2), "t.flac",
                       "truncated"),
    "truncated aiff": (lambda p: cut(write(p, sine(16000, 1)), lambda n: n // 2), "t.aiff",
                       "truncated"),
    "nan in float wav": (lambda p: write(p, np.where(np.arange(16000) == 9, np.nan,
                                                     sine(16000, 1)), subtype="FLOAT"),
                         "n.wav", "non-finite samples"),
    "inf in float wav": (lambda p: write(p, np.where(np.arange(16000) == 9, np.inf,
                                                     sine(16000, 1)), subtype="FLOAT"),
                         "i.wav", "non-finite samples"),
    "all zero": (lambda p: write(p, np.zeros(16000, np.float32)), "s.wav", "silent"),
    "below peak threshold": (lambda p: write(p, sine(16000, 1, amplitude=5e-5),
                                             subtype="FLOAT"), "q.wav", "silent"),
    "too short": (lambda p: write(p, sine(16000, 0.09)), "short.wav", "too short"),
    "too short after resampling": (lambda p: write(p, sine(48000, 0.09), 48000),
                                   "short48.wav", "too short"),
    "missing": (lambda p: str(p), "missing.wav", "unreadable: no such file"),
}


@QUIET_AUDIOREAD
@pytest.mark.parametrize("kind", BAD_FILES)
def test_bad_files_raise_with_reason(tmp_path, kind):
    make, name, reason = BAD_FILES[kind]
    path = make(tmp_path / name)
    with pytest.raises(audio.BadAudioError) as caught:
        audio.load(path)
    assert caught.value.reason == reason
    assert caught.value.path == path
    assert str(caught.value) == f"{path}: {reason}"
    assert isinstance(caught.value, ValueError)


def test_an_unreadable_file_raises_without_librosas_fallback_warnings(tmp_path):
    """A folder with a few bad files should print one line each (the skip), not librosa's
    'PySoundFile failed' and deprecation warnings too."""
    path = text_file(tmp_path / "x.wav")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(audio.BadAudioError):
            audio.load(path)
    assert [w for w in caught if issubclass(w.category, (UserWarning, FutureWarning))] == []


def test_the_audioread_fallback_decodes_as_soundfile_does(tmp_path):
    """Its 16-bit PCM scaled as librosa.load's fallback scales it, channels last (here through
    audioread's standard-library WAV backend, which needs no FFmpeg)."""
    stereo = np.stack([sine(16000, 0.5), sine(16000, 0.5, freq=220.0, amplitude=0.25)], axis=1)
    path = write(tmp_path / "stereo.wav", stereo, subtype="PCM_16")
    wave, rate = audio._decode_with_audioread(path)
    expected, expected_rate = sf.read(path, dtype="float32", always_2d=True)
    assert rate == expected_rate == 16000
    np.testing.assert_array_equal(wave, expected)


def test_thresholds_are_keywords(tmp_path):
    quiet = write(tmp_path / "q.wav", sine(16000, 1, amplitude=5e-5), subtype="FLOAT")
    assert audio.load(quiet, silence_peak=1e-5).shape == (16000,)
    short = write(tmp_path / "s.wav", sine(16000, 0.05))
    assert audio.load(short, min_samples=800).shape == (800,)


def test_streaming_placeholder_sizes_are_not_truncation(tmp_path):
    path = write(tmp_path / "stream.wav", sine(16000, 0.5))
    data = bytearray(open(path, "rb").read())
    data[4:8] = data[40:44] = struct.pack("<I", 0xFFFFFFFF)
    open(path, "wb").write(data)
    np.testing.assert_allclose(audio.load(path), sine(16000, 0.5), atol=2.0 ** -15)


@QUIET_AUDIOREAD
def test_falls_back_to_audioread_when_libsndfile_cannot_open(tmp_path, monkeypatch):
    stereo = np.stack([sine(22050, 0.5, amplitude=0.4), sine(22050, 0.5, amplitude=0.2)], axis=1)
    path = write(tmp_path / "a.wav", stereo, 22050)

    class Refusing(sf.SoundFile):
        def __init__(self, *args, **kwargs):
            raise sf.LibsndfileError(1, "refused: ")

        def __del__(self):
            pass

    monkeypatch.setattr(sf, "SoundFile", Refusing)
    wave = audio.load(path)
    assert wave.shape == (8000,)
    np.testing.assert_allclose(wave[200:-200], sine(16000, 0.5, amplitude=0.3)[200:-200],
                               atol=2e-3)


@QUIET_AUDIOREAD
def test_load_many_keeps_order_and_reports_bad_files(tmp_path, caplog):
    good = [write(tmp_path / f"g{i}.wav", sine(16000, 0.5, amplitude=0.1 * (i + 1)))
            for i in range(3)]
    silent = write(tmp_path / "s.wav", np.zeros(16000, np.float32))
    text = text_file(tmp_path / "x.wav")
    paths = [good[0], silent, good[1], text, good[2]]
    with caplog.at_level(logging.WARNING):
        waves, bad = audio.load_many(paths, sample_rate=16000, normalize=False, trim_db=None)
    assert [w is None for w in waves] == [False, True, False, True, False]
    for wave, amplitude in zip([waves[0], waves[2], waves[4]], [0.1, 0.2, 0.3]):
        assert np.abs(wave).max() == pytest.approx(amplitude, rel=1e-3)
    assert bad == {silent: "silent", text: "unreadable: Format not recognised"}
    skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipping")]
    assert sorted(skipped) == sorted([f"skipping {silent}: silent",
                                      f"skipping {text}: unreadable: Format not recognised"])


def test_preprocess_trims_edges_and_normalises():
    speech = sine(16000, 0.5, amplitude=0.2)[1:]
    wave = np.concatenate([np.zeros(8000, np.float32), speech, np.zeros(8000, np.float32)])
    out = audio.preprocess(wave)
    assert out.dtype == np.float32
    assert np.abs(out).max() == pytest.approx(0.95, rel=1e-6)
    # librosa frames are 2048 samples with a 512 hop: trimming is exact to within a frame.
    assert len(speech) <= len(out) <= len(speech) + 2 * 2048
    start = np.flatnonzero(np.abs(out) > 0)[0]
    np.testing.assert_allclose(out[start:start + len(speech)], speech * (0.95 / 0.2), atol=1e-5)


def test_preprocess_switches_and_all_silent_wave():
    wave = np.concatenate([np.zeros(8000, np.float32), sine(16000, 0.5, amplitude=0.2)])
    np.testing.assert_array_equal(audio.preprocess(wave, normalize=False, trim_db=None), wave)
    assert np.abs(audio.preprocess(wave, normalize=False)).max() == pytest.approx(0.2, rel=1e-3)
    assert len(audio.preprocess(wave, trim_db=0)) == len(wave)
    silent = np.zeros(4000, np.float32)
    np.testing.assert_array_equal(audio.preprocess(silent), silent)


def test_crop_or_pad_positions():
    wave = np.arange(1, 11, dtype=np.float32)
    np.testing.assert_array_equal(audio.crop_or_pad(wave, 4), [4, 5, 6, 7])
    np.testing.assert_array_equal(audio.crop_or_pad(wave, 4, 6), [7, 8, 9, 10])
    np.testing.assert_array_equal(audio.crop_or_pad(wave[:3], 7), [0, 0, 1, 2, 3, 0, 0])
    np.testing.assert_array_equal(audio.crop_or_pad(wave[:3], 7, 4), [0, 0, 0, 0, 1, 2, 3])
    np.testing.assert_array_equal(audio.crop_or_pad(wave, 10), wave)
    with pytest.raises(ValueError):
        audio.crop_or_pad(wave, 4, 7)
    with pytest.raises(ValueError):
        audio.crop_or_pad(wave[:3], 7, 5)


@pytest.mark.parametrize("n,length", [(10, 4), (3, 7), (5, 5)])
def test_random_offset_covers_admissible_range(n, length):
    rng = np.random.default_rng(0)
    offsets = {audio.random_offset(n, length, rng) for _ in range(200)}
    assert offsets == set(range(abs(n - length) + 1))
    for offset in offsets:
        assert audio.crop_or_pad(np.ones(n, np.float32), length, offset).shape == (length,)


def test_eval_crops():
    wave = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(audio.eval_crops(wave, 4, 1), [[3, 4, 5, 6]])
    np.testing.assert_array_equal(audio.eval_crops(wave, 4, 3),
                                  [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]])
    short = np.array([1, 2, 3], np.float32)
    np.testing.assert_array_equal(audio.eval_crops(short, 5, 3),
                                  [[1, 2, 3, 0, 0], [0, 1, 2, 3, 0], [0, 0, 1, 2, 3]])
    assert audio.eval_crops(np.ones(16000, np.float32), 4000, 5).shape == (5, 4000)


def test_sliding_windows_cover_the_wave_and_end_aligned():
    wave = np.arange(11, dtype=np.float32)
    windows, starts = audio.sliding_windows(wave, 4, 3)
    np.testing.assert_array_equal(starts, [0, 3, 6, 7])
    np.testing.assert_array_equal(windows, [wave[s:s + 4] for s in starts])
    windows, starts = audio.sliding_windows(wave[:10], 4, 3)
    np.testing.assert_array_equal(starts, [0, 3, 6])
    windows, starts = audio.sliding_windows(wave[:3], 5, 2)
    np.testing.assert_array_equal(starts, [0])
    np.testing.assert_array_equal(windows, [[0, 1, 2, 0, 0]])


def test_decodes_real_ravdess_files():
    paths = sorted(glob.glob(os.path.join(RAVDESS, "Actor_01", "*.flac")))[:3]
    if len(paths) < 3:
        pytest.skip(f"RAVDESS not found under {os.path.abspath(RAVDESS)}")
    for path in paths:
        wave = audio.load(path)
        reference, rate = sf.read(path, dtype="float32")
        assert rate == 16000
        np.testing.assert_array_equal(wave, reference)
        assert len(wave) > 16000
