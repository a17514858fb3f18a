"""JAX features against librosa 0.11 (float64 reference); shapes, config dispatch, jit, grads."""

import functools

import jax
import jax.numpy as jnp
import librosa
import ml_collections
import numpy as np
import pytest

from jax_ser.frontend import features

SR = 16000
LENGTHS = (8000, 6403, 2500)  # 6403 and 2500 are not multiples of the hop
STFT = dict(n_fft=512, hop_length=160, win_length=400)  # the base config's front end


@functools.lru_cache(maxsize=None)
def batch(length: int) -> np.ndarray:
    """Two utterances, chirps in noise 20 dB apart; silence at the end of one and the start of the
    other puts each log-mel on its own top_db floor."""
    t = np.arange(length) / SR
    rng = np.random.default_rng(length)
    waves = []
    for scale, f0 in ((1.0, 100.0), (0.1, 300.0)):
        chirp = 0.5 * np.sin(2 * np.pi * (f0 * t + 3000.0 * SR / length * t**2 / 2))
        waves.append(scale * (chirp + 0.01 * rng.standard_normal(length)))
    waves[0][-300:] = 0.0
    waves[1][:300] = 0.0
    return np.stack(waves).astype(np.float32)


def reference(fn, waves, **kwargs) -> np.ndarray:
    """librosa's feature per example on the same samples in float64, made time-major."""
    return np.stack([fn(y=w.astype(np.float64), **kwargs).T for w in waves])


def cfg(name, **overrides):
    return dict(name=name, sample_rate=SR, **STFT, n_mels=128, n_mfcc=40, fmin=0.0, fmax=0.0,
                top_db=80.0) | overrides


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("win_length", (None, 400))
def test_power_spectrogram_matches_librosa(length, win_length):
    waves = batch(length)
    got = np.asarray(features.power_spectrogram(waves, n_fft=512, hop_length=160,
                                                win_length=win_length))
    want = np.stack([np.abs(librosa.stft(w.astype(np.float64), n_fft=512, hop_length=160,
                                         win_length=win_length)).T ** 2 for w in waves])
    assert got.shape == want.shape == (2, features.num_frames(length, cfg("spectrogram")), 257)
    assert got.dtype == np.float32
    for g, w in zip(got, want):
        assert np.abs(g - w).max() < 1e-4 * w.max()


@pytest.mark.parametrize("length", LENGTHS)
def test_log_mel_matches_librosa_in_db(length):
    """1e-3 dB on content within 60 dB of the utterance peak. Deeper down, the float32 FFT's
    rounding (~1e-7 of the frame's energy) is itself ~1e-3 dB, so there a looser bound holds."""
    waves = batch(length)
    got = np.asarray(features.log_mel(waves, sample_rate=SR, **STFT, n_mels=128))
    for g, w in zip(got, waves):
        mel = librosa.feature.melspectrogram(y=w.astype(np.float64), sr=SR, **STFT, n_mels=128)
        want = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=80.0).T
        depth = want.max() - want
        assert g.shape == want.shape
        assert np.abs(g - want)[depth < 60.0].max() <= 1e-3
        assert np.abs(g - want).max() <= 1e-2
        # The floor is per utterance: the quiet example's floor sits 20 dB below the loud one's.
        assert g.min() == pytest.approx(g.max() - 80.0, abs=1e-4)


@pytest.mark.parametrize("length", LENGTHS[1:])
def test_mfcc_matches_librosa(length):
    waves = batch(length)
    got = np.asarray(features.mfcc(waves, n_mfcc=40, sample_rate=SR, **STFT))
    want = reference(librosa.feature.mfcc, waves, sr=SR, n_mfcc=40, **STFT)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=2e-3)


@pytest.mark.parametrize("length,frame_length,hop_length", ((8000, 2048, 512), (6403, 512, 160)))
def test_zero_crossing_rate_matches_librosa(length, frame_length, hop_length):
    waves = batch(length)
    got = np.asarray(features.zero_crossing_rate(waves, frame_length=frame_length,
                                                 hop_length=hop_length))
    want = reference(librosa.feature.zero_crossing_rate, waves, frame_length=frame_length,
                     hop_length=hop_length)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-7)


@pytest.mark.parametrize("length", LENGTHS[1:])
def test_chroma_matches_librosa(length):
    waves = batch(length)
    got = np.asarray(features.chroma(waves, sample_rate=SR, **STFT))
    want = reference(librosa.feature.chroma_stft, waves, sr=SR, tuning=0.0, **STFT)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-5)
    peaks = got.max(axis=-1)
    assert peaks[0, -1] == peaks[1, 0] == 0.0  # silent frames stay zero (librosa.util.normalize)
    np.testing.assert_allclose(peaks[:, 1:-1], 1.0, rtol=1e-6)


def test_compute_settings_reach_librosa():
    """fmin/fmax and log_spectrogram through a cfg match librosa with the same settings."""
    waves = batch(LENGTHS[0])
    got = np.asarray(features.compute(waves, cfg("mel", fmin=50.0, fmax=7000.0, n_mels=64)))
    want = reference(librosa.feature.melspectrogram, waves, sr=SR, **STFT, n_mels=64, fmin=50.0,
                     fmax=7000.0)
    for g, w in zip(got, want):
        assert np.abs(g - w).max() < 1e-4 * w.max()
    got = np.asarray(features.compute(waves, cfg("log_spectrogram")))
    for g, w in zip(got, waves):
        want = librosa.power_to_db(np.abs(librosa.stft(w.astype(np.float64), **STFT)) ** 2).T
        assert np.abs(g - want)[want.max() - want < 60.0].max() <= 1e-3


@pytest.mark.filterwarnings("ignore:Empty filters detected")
@pytest.mark.parametrize("n_fft, n_mels, fmin, fmax", [
    (512, 128, 0.0, None), (512, 40, 50.0, 7000.0), (512, 5, 0.0, None),
    (256, 128, 0.0, None),  # 13 empty filters
])
def test_mel_bands_hold_every_weight_of_the_filterbank(n_fft, n_mels, fmin, fmax):
    """mel_spectrogram multiplies runs of bands by the bins they touch only: put back in place,
    the runs are librosa's filterbank exactly, in a small part of its size."""
    basis = features._mel_basis(SR, n_fft, n_mels, fmin, fmax)
    rebuilt, band, size = np.zeros_like(basis), 0, 0
    for lo, hi, weights in features._mel_bands(SR, n_fft, n_mels, fmin, fmax):
        rebuilt[lo:hi, band:band + weights.shape[1]] = weights
        band, size = band + weights.shape[1], size + weights.size
    assert band == n_mels
    np.testing.assert_array_equal(rebuilt, basis)
    assert size < (0.35 if n_mels < 8 else 0.15) * basis.size


def test_top_db_zero_disables_the_floor():
    waves = batch(LENGTHS[0])
    got = np.asarray(features.compute(waves, cfg("log_mel", top_db=0)))
    mel = np.asarray(features.mel_spectrogram(waves, sample_rate=SR, **STFT))
    np.testing.assert_allclose(got, 10 * np.log10(np.maximum(mel, 1e-10)), atol=1e-4)
    assert got[0].max() - got[0].min() > 80.0


@pytest.mark.parametrize("name", [n for n in features.FEATURES if n != "precomputed"])
def test_compute_shapes_jit_and_counts(name, length=LENGTHS[1]):
    config = ml_collections.ConfigDict(cfg(name, win_length=0))
    waves = batch(length)
    eager = features.compute(waves, config)
    jitted = jax.jit(lambda w: features.compute(w, config))(waves)
    assert eager.shape == (2, features.num_frames(length, config), features.num_features(config))
    assert jitted.dtype == jnp.float32
    np.testing.assert_allclose(jitted, eager, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("name", ["log_mel", "mfcc"])
def test_features_computed_a_few_clips_at_a_time_equal_the_whole_batchs(name, monkeypatch):
    """On CPU, compute() loops over chunks of clips; with 2-clip chunks, 5 clips need a padded
    last chunk, and each clip must come back in its place with its own top_db floor."""
    assert jax.default_backend() == "cpu"
    waves = np.concatenate([batch(LENGTHS[0]), 0.3 * batch(LENGTHS[0]),
                            batch(LENGTHS[0])[:1, ::-1]])
    config = cfg(name)
    whole = features.FEATURES[name][0](jnp.asarray(waves), features._settings(config))
    monkeypatch.setattr(features, "CPU_CHUNK_SAMPLES", 2 * LENGTHS[0])
    chunked = jax.jit(lambda w: features.compute(w, config))(waves)
    assert chunked.shape == whole.shape and whole.shape[0] == 5
    np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-4)  # MFCC magnitudes ~300
    assert "while" in jax.jit(lambda w: features.compute(w, config)).lower(waves).as_text()


def test_waveform_and_precomputed_pass_inputs_through():
    waves = batch(LENGTHS[2])
    np.testing.assert_array_equal(features.compute(waves, cfg("waveform"))[..., 0], waves)
    frames = np.ones((2, 7, 5), np.float32)
    config = {**cfg("precomputed"), "dim": 5}
    np.testing.assert_array_equal(features.compute(frames, config), frames)
    assert features.num_features(config) == 5 and features.num_frames(7, config) == 7


def test_log_mel_plus_mfcc_is_their_concatenation():
    waves = batch(LENGTHS[2])
    both = features.compute(waves, cfg("log_mel+mfcc"))
    parts = [features.compute(waves, cfg(name)) for name in ("log_mel", "mfcc")]
    np.testing.assert_allclose(both, jnp.concatenate(parts, axis=-1), atol=1e-4)
    assert both.shape[-1] == 128 + 40


def test_gradients_are_finite_on_silence():
    waves = jnp.asarray(batch(LENGTHS[2])).at[1].set(0.0)

    def loss(w):
        both = features.normalize(features.compute(w, cfg("log_mel+mfcc")), "utterance")
        chroma = features.normalize(features.compute(w, cfg("chroma")), "frequency")
        magnitude = features.power_spectrogram(w, power=1.0)
        return jnp.sum(both**2) + jnp.sum(chroma**2) + jnp.sum(magnitude)

    grad = np.asarray(jax.jit(jax.grad(loss))(waves))
    assert np.isfinite(grad).all()
    assert np.abs(grad[0]).max() > 0


def test_normalize_modes():
    feats = jnp.asarray(np.random.default_rng(0).normal(3.0, 5.0, (2, 50, 8)), jnp.float32)
    feats = feats * jnp.arange(1, 9)  # bands of different scale
    utterance = np.asarray(features.normalize(feats, "utterance"))
    np.testing.assert_allclose(utterance.mean(axis=(1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(utterance.std(axis=(1, 2)), 1.0, atol=1e-4)
    assert np.abs(utterance.std(axis=1) - 1.0).max() > 0.1
    frequency = np.asarray(features.normalize(feats, "frequency"))
    np.testing.assert_allclose(frequency.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(frequency.std(axis=1), 1.0, atol=1e-4)
    np.testing.assert_array_equal(features.normalize(feats, "none"), feats)
    with pytest.raises(ValueError, match="utterance"):
        features.normalize(feats, "global")


def test_log_offset_adds_to_the_power_as_torch_scripts_do():
    """log(mel + 1e-6), the PyTorch scripts' log-mel, in dB and without a floor."""
    waves = batch(LENGTHS[0])
    got = np.asarray(features.compute(waves, cfg("log_mel", top_db=0, log_offset=1e-6)))
    mel = reference(librosa.feature.melspectrogram, waves, sr=SR, **STFT, n_mels=128)
    want = 10 * np.log10(mel + 1e-6)
    assert np.abs(got - want)[want > want.max() - 40].max() <= 1e-3
    assert np.abs(got - want).max() <= 1e-2
    floored = np.asarray(features.compute(waves, cfg("log_mel", top_db=0)))
    assert floored.min() < got.min() - 20  # silence sits near 1e-6, not 1e-10


def _placed(clip: np.ndarray, window: int, offset: int) -> jnp.ndarray:
    wave = np.zeros((1, window), np.float32)
    wave[0, offset:offset + len(clip)] = clip
    return jnp.asarray(wave)


def test_mask_padding_standardises_the_clip_alone():
    """A short clip's valid frames are standardised over themselves, its padding is 0, and more
    padding (at a hop-aligned offset) changes nothing; without the mask it changes everything."""
    from jax_ser import frontend

    clip = batch(LENGTHS[0])[0, :6400]  # noisy from its first sample to its last
    config = cfg("log_mel", normalize="utterance", mask_padding=True)
    short, long_ = _placed(clip, 16000, 3200), _placed(clip, 24000, 9600)
    valid_s = np.asarray(features.valid_frames(short, config))[0]
    valid_l = np.asarray(features.valid_frames(long_, config))[0]
    assert valid_s.sum() == valid_l.sum() == 40  # frame centres 3200, 3360, ..., 9440
    assert valid_s.argmax() == 20 and valid_l.argmax() == 60
    got_s = np.asarray(frontend.compute(short, config))[0]
    got_l = np.asarray(frontend.compute(long_, config))[0]
    assert got_s[valid_s].mean() == pytest.approx(0.0, abs=1e-5)
    assert got_s[valid_s].std() == pytest.approx(1.0, abs=1e-3)
    assert (got_s[~valid_s] == 0).all() and (got_l[~valid_l] == 0).all()
    np.testing.assert_allclose(got_s[valid_s], got_l[valid_l], atol=1e-5)
    unmasked = {**config, "mask_padding": False}
    plain_s = np.asarray(frontend.compute(short, unmasked))[0][valid_s]
    plain_l = np.asarray(frontend.compute(long_, unmasked))[0][valid_l]
    assert np.abs(plain_s - plain_l).max() > 0.1
    frequency = np.asarray(frontend.compute(short, {**config, "normalize": "frequency"}))[0]
    np.testing.assert_allclose(frequency[valid_s].mean(0), 0.0, atol=1e-4)
    silent = np.asarray(frontend.compute(jnp.zeros((1, 16000)), config))
    assert (silent == 0).all()


def test_front_end_settings_that_cannot_run_are_refused():
    from jax_ser.config import base_config
    from jax_ser.errors import ConfigError

    config = base_config(model={"name": "resnet"})
    config.features.mask_padding = True
    features.check_config(config)
    config.features.name = "waveform"
    with pytest.raises(ConfigError, match="mask_padding"):
        features.check_config(config)
    config.features.name, config.features.log_offset = "log_mel", -1e-6
    with pytest.raises(ConfigError, match="log_offset"):
        features.check_config(config)


def test_unknown_feature_names_raise():
    waves = batch(LENGTHS[2])
    with pytest.raises(ValueError, match="log_mel\\+mfcc"):
        features.compute(waves, cfg("fbank"))
    with pytest.raises(ValueError, match="spectrogram"):
        features.num_features(cfg("fbank"))
