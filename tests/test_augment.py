"""Augmentation does what it says: shapes and dtypes, ranges, SNR, room decay, mask bounds, mixed
targets, determinism for a key, identity when off, the config's checks, the whole chain traced,
and a jitted train step that still learns with augmentation on. Each compiled function is built
once: compiling is most of these tests' time on CPU."""

import functools
import json

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jax_ser import config as config_lib
from jax_ser import errors, frontend
from jax_ser.data import precomputed
from jax_ser.frontend import augment, augment_checks
from jax_ser.train import loop, losses, trainer

SR = 16000
KEY = jax.random.key(0)
ALL_ON = dict(
    gain_db=6.0, gain_prob=1.0, noise_prob=1.0, noise_snr_db=(10.0, 20.0), noise_color="pink",
    time_shift_seconds=0.05, time_shift_prob=1.0, time_shift_mode="roll", speed=(0.9, 1.1),
    speed_prob=1.0, pitch_shift_semitones=2.0, pitch_shift_prob=0.5, reverb_prob=0.5,
    reverb_rt60=(0.1, 0.3), spec_time_masks=2, spec_time_mask_width=5, spec_freq_masks=2,
    spec_freq_mask_width=4, time_warp=3, mixup_alpha=0.4, mixup_prob=1.0, cutmix_prob=0.5,
    cutmix_max_share=1.0,
    image_zoom=(0.9, 1.1), image_zoom_axes="both", image_zoom_prob=0.5, image_rotate_deg=5.0,
    image_rotate_prob=0.5, image_brightness=0.2, image_brightness_prob=0.5,
)  # fmt: skip


def waves(batch=8, n=8000, seed=0) -> jnp.ndarray:
    """Tones of different pitch in a little noise, one per example."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    f0 = rng.uniform(150, 400, (batch, 1))
    x = 0.5 * np.sin(2 * np.pi * f0 * t) + 0.01 * rng.standard_normal((batch, n))
    return jnp.asarray(x, jnp.float32)


def jitted(fn, key, x, *args, **kwargs):
    """fn(key, x, *args) in one compiled call: quicker on CPU than op by op."""
    return np.asarray(jax.jit(lambda k, x: fn(k, x, *args, **kwargs))(key, x))


def power_db(x):
    return 10 * np.log10(np.mean(np.square(np.asarray(x, np.float64)), axis=-1))


def all_waveform_augmentations(key, x):
    return {
        "gain": augment.gain(key, x, 6.0),
        "noise_white": augment.noise(key, x, (5.0, 15.0), 1.0),
        "noise_pink": augment.noise(key, x, (5.0, 15.0), 1.0, "pink"),
        "roll": augment.time_shift(key, x, 400),
        "zeros": augment.time_shift(key, x, 400, mode="zeros"),
        "speed": augment.speed(key, x, (0.9, 1.1)),
        "pitch_shift": augment.pitch_shift(key, x, 2.0),
        "reverb": augment.reverb(key, x, SR, (0.1, 0.3), 1.0),
    }


def test_waveform_augmentations_keep_shape_and_dtype_and_follow_the_key():
    fn = jax.jit(all_waveform_augmentations)
    x = waves(4, 4000)
    first, again, other = fn(KEY, x), fn(KEY, x), fn(jax.random.key(1), x)
    half = jax.eval_shape(fn, KEY, x.astype(jnp.bfloat16))
    for name, y in first.items():
        assert y.shape == x.shape and y.dtype == x.dtype, name
        assert half[name].shape == x.shape and half[name].dtype == jnp.bfloat16, name
        assert np.all(np.isfinite(y)), name
        np.testing.assert_array_equal(y, again[name], err_msg=name)
        assert not np.array_equal(y, other[name]), name
        assert not np.array_equal(y, x), name


def test_gain_stays_within_its_range_and_its_probability():
    x = waves(64)
    db = power_db(jitted(augment.gain, KEY, x, 6.0)) - power_db(x)
    assert np.all(np.abs(db) <= 6.0 + 1e-3) and db.max() > 3 and db.min() < -3
    unchanged = np.all(jitted(augment.gain, KEY, x, 6.0, 0.5) == np.asarray(x), axis=1)
    assert 16 <= unchanged.sum() <= 48


@pytest.mark.parametrize("color", ["white", "pink"])
def test_noise_is_added_at_the_requested_snr_and_colour(color):
    x, ones = waves(16), jnp.ones((4, 16000))  # on ones the signal only sets the noise level

    @jax.jit
    def noisy(key):
        fixed, spread = (
            augment.noise(key, x, snr, 1.0, color) for snr in ((12.0, 12.0), (0.0, 20.0))
        )
        return fixed, spread, augment.noise(key, ones, (0.0, 0.0), 1.0, color) - 1

    fixed, spread, noise = (np.asarray(a) for a in noisy(KEY))
    np.testing.assert_allclose(power_db(x) - power_db(fixed - x), 12.0, atol=0.02)
    snr = power_db(x) - power_db(spread - x)
    assert np.all((snr > -0.02) & (snr < 20.02)) and np.ptp(snr) > 5
    spectrum = np.abs(np.fft.rfft(noise)) ** 2
    low_to_high = spectrum[:, 100:200].mean() / spectrum[:, 4000:8000].mean()
    if color == "pink":
        assert low_to_high > 10  # 1/f: ~40x between these bands
    else:
        assert 0.5 < low_to_high < 2


@pytest.mark.parametrize("mode", ["roll", "zeros"])
def test_time_shift_moves_each_example_by_at_most_its_maximum(mode):
    n, max_shift = 1000, 50
    x = jnp.tile(jnp.arange(1, n + 1, dtype=jnp.float32), (32, 1))
    y = jitted(augment.time_shift, KEY, x, max_shift, mode=mode)
    shifts = set()
    for row in y:  # the shift k that put sample 1 - k first (or sample 1 at k, after zeros)
        k = int(np.argmax(row == 1)) if row[0] == 0 else (1 - int(row[0])) % n
        k = k - n if k > n // 2 else k
        assert abs(k) <= max_shift
        np.testing.assert_array_equal(row, _shifted(x[0], k, mode))
        shifts.add(k)
    assert len(shifts) > 10


def _shifted(x, k, mode):
    x = np.asarray(x)
    if mode == "roll":
        return np.roll(x, k)
    out = np.zeros_like(x)
    if k >= 0:
        out[k:] = x[: len(x) - k]
    else:
        out[:k] = x[-k:]
    return out


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_scales_frequency_and_keeps_the_centre(factor):
    n = 16000
    t = np.arange(n) / SR
    x = jnp.asarray(np.sin(2 * np.pi * 200 * t)[None], jnp.float32)
    y = jitted(augment.speed, KEY, x, (factor, factor))[0]
    middle = y[4000:12000]
    peak = np.argmax(np.abs(np.fft.rfft(middle * np.hanning(len(middle)))))
    assert abs(peak * SR / len(middle) - 200 * factor) <= 2
    edge = round(n * (1 - 1 / factor) / 2)  # zeros at both ends when faster, none when slower
    if factor > 1:
        assert np.all(y[: edge - 1] == 0) and np.all(y[-edge + 1 :] == 0) and y[edge + 5] != 0
    else:
        assert np.count_nonzero(y == 0) < 20


def test_pitch_shift_moves_the_pitch_keeps_the_tempo_and_the_level():
    """A 300 Hz tone whose second half is silent: shifted by -3, 0 and +4 semitones, the tone
    is at 300 * 2 ** (s / 12) Hz, it still stops half-way, and its power is the input's."""
    n = 16000
    t = np.arange(n) / SR
    tone = np.where(t < 0.5, 0.5 * np.sin(2 * np.pi * 300 * t), 0.0)
    x = jnp.asarray(np.stack([tone] * 3), jnp.float32)
    semitones = jnp.asarray([-3.0, 0.0, 4.0])
    y = np.asarray(jax.jit(augment.pitch_shift_by)(x, semitones))
    assert y.shape == x.shape and np.all(np.isfinite(y))
    np.testing.assert_allclose(power_db(y), power_db(x), atol=0.01)
    for row, s in zip(y, [-3.0, 0.0, 4.0]):
        sounding = row[1000:7000]
        spectrum = np.abs(np.fft.rfft(sounding * np.hanning(len(sounding))))
        assert abs(np.argmax(spectrum) * SR / len(sounding) - 300 * 2 ** (s / 12)) <= 4, s
        assert np.mean(row[8600:] ** 2) < 1e-3 * np.mean(row[:7900] ** 2), s  # silence stays
    np.testing.assert_allclose(y[1][600:-600], tone[600:-600], atol=1e-3)  # 0: round trip


def test_pitch_shift_draws_within_its_range_and_leaves_unchosen_examples():
    x = waves(16, 4000)
    y = jitted(augment.pitch_shift, KEY, x, 2.0, 0.5)
    unchanged = np.all(y == np.asarray(x), axis=1)
    assert 2 <= unchanged.sum() <= 14  # about half chosen
    spectrum = lambda a: np.argmax(np.abs(np.fft.rfft(a[:, 500:3500] * np.hanning(3000))), -1)
    ratio = spectrum(y)[~unchanged] / spectrum(np.asarray(x))[~unchanged]
    assert np.all((ratio > 2 ** (-2.3 / 12)) & (ratio < 2 ** (2.3 / 12)))


def test_reverb_decays_by_60_db_in_the_requested_time_and_keeps_the_level():
    rt60 = 0.3
    impulse = jnp.zeros((4, SR)).at[:, 100].set(1.0)
    y = jitted(augment.reverb, KEY, impulse, SR, (rt60, rt60), 1.0).astype(np.float64)
    np.testing.assert_allclose(power_db(y), power_db(impulse), atol=1e-3)
    for response in y[:, 100:]:
        decay = np.cumsum(response[::-1] ** 2)[::-1]  # Schroeder backward integration
        decay_db = 10 * np.log10(decay / decay[0])
        t5, t25 = np.argmax(decay_db < -5), np.argmax(decay_db < -25)
        np.testing.assert_allclose(3 * (t25 - t5) / SR, rt60, rtol=0.15)  # T20 x 3
    x = waves(64, 2000)
    chosen = jitted(augment.reverb, KEY, x, SR, (rt60, rt60), 0.5) != x
    assert 16 <= np.any(chosen, axis=1).sum() <= 48


def _runs(masked: np.ndarray) -> list[int]:
    """Lengths of the runs of True in a 1-D boolean array."""
    edges = np.diff(np.concatenate([[0], masked.astype(int), [0]]))
    return list(np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1))


MASKS, MASK_WIDTH, WARP = 2, 6, 8


def feature_inputs():
    rng = np.random.default_rng(0)
    return {
        "spec": rng.normal(size=(64, 50, 20)) + rng.normal(size=(64, 1, 1)),  # own mean each
        "ramp": np.tile(np.arange(60.0)[None, :, None], (32, 1, 3)),
        "flat": np.ones((32, 60, 3)),
        "mix": rng.normal(size=(16, 40, 6)),
        "targets": np.eye(16),  # every example its own class
    }


@jax.jit
def _feature_augmentations(key, x):
    k = jax.random.split(key, 6)
    return {
        "time": augment.time_masks(k[0], x["spec"], MASKS, MASK_WIDTH),
        "freq": augment.freq_masks(k[1], x["spec"], MASKS, MASK_WIDTH),
        "ramp": augment.time_warp(k[2], x["ramp"], WARP),
        "flat": augment.time_warp(k[3], x["flat"], WARP),
        "mixup": augment.mixup(k[4], x["mix"], x["targets"], 0.4),
        "cutmix": augment.cutmix(k[5], x["mix"], x["targets"], 1.0),
    }


@functools.cache
def feature_augmentations(seed: int) -> dict:
    """Every feature augmentation on fixed inputs, in one compiled function."""
    inputs = {k: jnp.asarray(v, jnp.float32) for k, v in feature_inputs().items()}
    return jax.tree.map(np.asarray, _feature_augmentations(jax.random.key(seed), inputs))


def test_feature_augmentations_follow_the_key():
    inputs = {k: jnp.asarray(v, jnp.float32) for k, v in feature_inputs().items()}
    again = _feature_augmentations(jax.random.key(0), inputs)
    other = _feature_augmentations(jax.random.key(1), inputs)
    jax.tree.map(np.testing.assert_array_equal, feature_augmentations(0), again)
    for name in ("time", "freq", "ramp", "mixup", "cutmix"):  # "flat" stays flat whatever the key
        first, second = jax.tree.leaves(again[name])[0], jax.tree.leaves(other[name])[0]
        assert not np.array_equal(first, second), name


@pytest.mark.parametrize("axis", ["time", "freq"])
def test_spec_masks_cover_whole_spans_within_their_bounds_with_the_mean(axis):
    feats = feature_inputs()["spec"].astype(np.float32)
    out = feature_augmentations(0)[axis]
    assert out.shape == feats.shape and out.dtype == np.float32
    changed = out != feats
    lengths = []
    for x, c, m in zip(out, changed, feats.mean(axis=(1, 2))):
        spans = c.all(axis=1) if axis == "time" else c.all(axis=0)  # whole frames / channels
        whole = spans[:, None] if axis == "time" else spans[None, :]
        np.testing.assert_array_equal(c, np.broadcast_to(whole, c.shape))
        np.testing.assert_allclose(x[c], m, rtol=1e-5)  # filled with the example's mean
        runs = _runs(spans)
        assert len(runs) <= MASKS and sum(runs) <= MASKS * MASK_WIDTH
        lengths += runs
    assert max(lengths) >= MASK_WIDTH  # the widest masks reach the bound
    assert changed.any(axis=(1, 2)).mean() > 0.8


def test_time_warp_keeps_the_ends_and_stays_monotone():
    ramp, out = feature_inputs()["ramp"], feature_augmentations(0)["ramp"]
    assert out.shape == ramp.shape
    np.testing.assert_allclose(out[:, 0], 0, atol=1e-5)
    np.testing.assert_allclose(out[:, -1], 59, atol=1e-4)
    assert np.all(np.diff(out, axis=1) >= -1e-5)
    assert np.max(np.abs(out - ramp)) > 1  # something moved
    assert np.max(np.abs(out - ramp)) <= WARP + 1e-4  # by at most W frames
    np.testing.assert_allclose(feature_augmentations(0)["flat"], 1.0, rtol=1e-6)


def _partner(row: np.ndarray, i: int) -> int:
    """The other class an example's soft target row mixes in (itself where there is none)."""
    others = np.where(np.arange(len(row)) == i, -1, row)
    return int(np.argmax(others)) if others.max() > 0 else i


def test_mixup_gives_convex_mixtures_of_features_and_targets():
    feats = feature_inputs()["mix"]
    mixed, soft = feature_augmentations(0)["mixup"]
    np.testing.assert_allclose(soft.sum(-1), 1.0, rtol=1e-6)
    assert np.all(soft >= 0) and np.all(np.count_nonzero(soft, axis=-1) <= 2)
    for i, row in enumerate(soft):
        expected = row[i] * feats[i] + (1 - row[i]) * feats[_partner(row, i)]
        np.testing.assert_allclose(mixed[i], expected, rtol=1e-5, atol=1e-5)
    assert np.ptp(soft.max(-1)) > 0.2  # lam varies per example


def test_cutmix_takes_one_span_whose_share_is_the_target_weight():
    feats = feature_inputs()["mix"].astype(np.float32)
    mixed, soft = feature_augmentations(0)["cutmix"]
    np.testing.assert_allclose(soft.sum(-1), 1.0, rtol=1e-6)
    taken_some = 0
    for i, row in enumerate(soft):
        from_self = np.all(mixed[i] == feats[i], axis=1)
        if from_self.all():  # not chosen, a span of 0 frames, or its own partner
            np.testing.assert_allclose(row[i], 1.0, rtol=1e-6)
            continue
        partner = _partner(row, i)
        span = np.all(mixed[i] == feats[partner], axis=1) & ~from_self
        assert len(_runs(span)) == 1 and np.array_equal(span | from_self, np.ones(40, bool))
        np.testing.assert_allclose(row[partner], span.sum() / 40, rtol=1e-6)
        taken_some += 1
    assert taken_some > 8


IMAGE_SHAPE, BRIGHTNESS, ZOOM, DEGREES = (32, 41, 21), 0.5, (0.8, 1.25), 10.0


@jax.jit
def _image_augmentations(key, x):
    k = jax.random.split(key, 5)
    return {
        "brightness": augment.brightness(k[0], x, BRIGHTNESS),
        "brightness_half": augment.brightness(k[1], x, BRIGHTNESS, 0.5),
        "zoom": augment.zoom(k[2], x, ZOOM, "both", 0.5),
        "zoom_time": augment.zoom(k[3], x, ZOOM, "time"),
        "rotation": augment.rotation(k[4], x, DEGREES, 0.5),
    }


def image_input() -> np.ndarray:
    rng = np.random.default_rng(1)
    return (rng.normal(size=IMAGE_SHAPE) + rng.normal(size=(IMAGE_SHAPE[0], 1, 1))).astype(
        np.float32
    )  # each example its own level


@functools.cache
def image_augmentations(seed: int) -> dict:
    """Every image change on fixed inputs, in one compiled function."""
    return jax.tree.map(np.asarray, _image_augmentations(jax.random.key(seed), image_input()))


def test_image_changes_keep_shape_and_range_and_follow_the_key():
    x = image_input()
    again = jax.tree.map(np.asarray, _image_augmentations(jax.random.key(0), x))
    other = image_augmentations(1)
    for name, y in image_augmentations(0).items():
        assert y.shape == x.shape and y.dtype == x.dtype and np.all(np.isfinite(y)), name
        np.testing.assert_array_equal(y, again[name], err_msg=name)
        assert not np.array_equal(y, other[name]), name
        if name.startswith("brightness"):
            continue
        # zoom and rotation interpolate (antialiased: non-negative weights) or fill with the mean
        low, high = x.min(axis=(1, 2)), x.max(axis=(1, 2))
        assert np.all(y.min(axis=(1, 2)) >= low - 1e-4), name
        assert np.all(y.max(axis=(1, 2)) <= high + 1e-4), name
        changed = np.any(y != x, axis=(1, 2))
        assert 0.2 < changed.mean() <= (1 if name == "zoom_time" else 0.8), name
    # a rotation turns the map about its centre point, which stays where it was
    t, f = IMAGE_SHAPE[1] // 2, IMAGE_SHAPE[2] // 2
    np.testing.assert_allclose(image_augmentations(0)["rotation"][:, t, f], x[:, t, f], rtol=1e-5)


def test_brightness_adds_one_offset_per_example_within_its_bound():
    x = image_input()
    out = image_augmentations(0)
    offset = out["brightness"] - x
    np.testing.assert_allclose(offset, np.broadcast_to(offset[:, :1, :1], x.shape), atol=1e-5)
    relative = offset[:, 0, 0] / x.std(axis=(1, 2))
    assert np.all(np.abs(relative) <= BRIGHTNESS + 1e-4) and np.ptp(relative) > BRIGHTNESS
    unchanged = np.all(out["brightness_half"] == x, axis=(1, 2))
    assert 6 <= unchanged.sum() <= 26


@jax.jit
def _exact_image_changes(square, ramp):
    return {
        "rotated": augment.rotate_by(square, jnp.array([0.0, 90.0, -90.0, 180.0])),
        "zoomed": augment.zoom_by(square, jnp.ones(4)),
        "time_x2": augment.zoom_by(ramp, jnp.array([2.0]), "time"),
        "time_x0.5": augment.zoom_by(ramp, jnp.array([0.5]), "time"),
        "freq_x2": augment.zoom_by(ramp, jnp.array([2.0]), "freq"),
    }


def test_rotation_and_zoom_by_known_amounts():
    square = np.random.default_rng(0).normal(size=(4, 21, 21)).astype(np.float32)
    t = 20
    ramp = np.tile(np.arange(t, dtype=np.float32)[None, :, None], (1, 1, 4))  # rises with time
    out = jax.tree.map(np.asarray, _exact_image_changes(square, ramp))
    np.testing.assert_array_equal(out["rotated"][0], square[0])  # angle 0: exactly the identity
    np.testing.assert_array_equal(out["zoomed"], square)  # factor 1: exactly the identity
    # quarter turns, counter-clockwise with time along x and frequency along y: np.rot90's
    for k, rotated, original in zip((1, -1, 2), out["rotated"][1:], square[1:]):
        np.testing.assert_allclose(rotated, np.rot90(original, k), atol=1e-5)
    centre = (t - 1) / 2  # zooming in by 2 about the centre halves each frame's distance to it
    expected = centre + (np.arange(t) - centre) / 2
    np.testing.assert_allclose(out["time_x2"][0], np.tile(expected[:, None], (1, 4)), atol=1e-5)
    shrunk = out["time_x0.5"][0, :, 0]  # half as long, centred, padded with the mean (9.5)
    np.testing.assert_array_equal(np.r_[shrunk[:5], shrunk[15:]], 9.5)
    assert np.all(np.diff(shrunk[5:15]) > 1.5)  # the ramp, twice as steep
    np.testing.assert_allclose(out["freq_x2"], ramp, atol=1e-5)  # constant along frequency


def test_each_augmentation_is_the_identity_when_off():
    x, feats = waves(2, 1000), jnp.ones((2, 20, 8))
    targets = jax.nn.one_hot(jnp.arange(2), 2)
    assert augment.gain(KEY, x, 0.0) is x and augment.gain(KEY, x, 6.0, 0.0) is x
    assert augment.noise(KEY, x, (10.0, 20.0), 0.0) is x
    assert augment.time_shift(KEY, x, 0) is x and augment.time_shift(KEY, x, 10, 0.0) is x
    assert augment.speed(KEY, x, (1.0, 1.0)) is x and augment.speed(KEY, x, (0.9, 1.1), 0.0) is x
    assert augment.reverb(KEY, x, SR, (0.2, 0.8), 0.0) is x
    assert augment.pitch_shift(KEY, x, 0.0) is x and augment.pitch_shift(KEY, x, 2.0, 0.0) is x
    assert augment.time_masks(KEY, feats, 0, 5) is feats
    assert augment.freq_masks(KEY, feats, 2, 0) is feats
    assert augment.time_warp(KEY, feats, 0) is feats
    assert augment.brightness(KEY, feats, 0.0) is feats
    assert augment.brightness(KEY, feats, 0.5, 0.0) is feats
    assert augment.zoom(KEY, feats, (1.0, 1.0)) is feats
    assert augment.zoom(KEY, feats, (0.9, 1.1), "both", 0.0) is feats
    assert augment.rotation(KEY, feats, 0.0) is feats
    assert augment.rotation(KEY, feats, 5.0, 0.0) is feats
    assert augment.resize(feats, None) is feats
    for mix in (augment.mixup(KEY, feats, targets, 0.0), augment.cutmix(KEY, feats, targets, 0.0)):
        assert mix[0] is feats and mix[1] is targets
    off = config_lib.base_config(model=dict(name="mlp"))
    assert augment.settings(off) is None  # the train step is then exactly the unaugmented one
    saved = json.loads(off.to_json_best_effort())
    del saved["augment"]  # a config saved before augmentation existed
    old = config_lib.from_saved(saved)
    assert augment.settings(old) is None
    augment_checks.check_config(old)


def test_soft_targets_give_the_loss_of_the_labels_and_mix_class_weights():

    logits = jax.random.normal(KEY, (4, 3))
    labels = jnp.array([0, 2, 1, 2])
    weights = jnp.array([1.0, 2.0, 0.5])
    for kind in ("softmax", "sigmoid"):
        hard = losses.classification_loss(logits, labels, weights, 0.1, kind)
        soft = losses.classification_loss(logits, jax.nn.one_hot(labels, 3), weights, 0.1, kind)
        np.testing.assert_allclose(soft, hard, rtol=1e-6)
    # a 30/70 mix of classes 0 and 1 weighs 0.3 * 1 + 0.7 * 2 = 1.7 against an example of class 2,
    # and label smoothing spreads 0.1 of each target over the 3 classes
    mix = jnp.array([[0.3, 0.7, 0.0], [0.0, 0.0, 1.0]])
    per_example = -jnp.sum((0.9 * mix + 0.1 / 3) * jax.nn.log_softmax(logits[:2]), -1)
    expected = (1.7 * per_example[0] + 0.5 * per_example[1]) / (1.7 + 0.5)
    np.testing.assert_allclose(
        losses.classification_loss(logits[:2], mix, weights, 0.1, "softmax"), expected, rtol=1e-6
    )


def tiny_mlp_config(**augment_settings):
    config = config_lib.base_config(model=dict(name="mlp", hidden=(32,)))
    config.data.clip_seconds = 0.5
    config.features.n_mels = 16
    config.train.batch_size = 16
    config.train.schedule, config.train.warmup_epochs = "constant", 0.0
    config.train.learning_rate = 1e-2
    config.augment.update(augment_settings)
    return config


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("spec_time_mask_width", -1, "spec_time_mask_width must be >= 0"),
        ("noise_prob", 1.5, r"noise_prob is a probability: it must lie in \[0, 1\]"),
        ("speed", (1.1, 0.9), "config.augment.speed"),
        ("pitch_shift_semitones", -1.0, "pitch_shift_semitones must be >= 0"),
        ("pitch_shift_prob", 2.0, "pitch_shift_prob is a probability"),
        ("reverb_rt60", (0.0, 0.5), "config.augment.reverb_rt60"),
        ("noise_color", "brown", "noise_color"),
        ("spec_freq_mask_width", 17, "exceeds the 16 feature channels"),
        ("time_warp", 30, "time_warp=30 needs clips of more than"),
        ("time_shift_seconds", 0.5, "shorter than config.data.clip_seconds"),
        ("cutmix_max_share", 1.5, r"cutmix_max_share must lie in \(0, 1\]"),
        ("image_zoom", (1.2, 0.8), "config.augment.image_zoom: "),
        ("image_zoom", (0.0, 1.2), "0 < low <= high"),
        ("image_zoom_axes", "pitch", "image_zoom_axes: 'pitch' is not time, freq or both"),
        ("image_rotate_deg", -5.0, r"image_rotate_deg must lie in \[0, 180\]"),
        ("image_rotate_prob", 1.5, r"image_rotate_prob is a probability"),
        ("image_brightness", -0.1, "image_brightness must be >= 0"),
    ],
)
def test_bad_augment_values_are_named(key, value, message):
    with pytest.raises(errors.ConfigError, match=message):
        augment_checks.check_config(tiny_mlp_config(**{key: value}))


def test_every_augmentation_chains_in_the_train_batch():

    config = tiny_mlp_config(**ALL_ON)
    config_lib.validate(config)
    cfg = augment.settings(config)
    features_of = lambda w: frontend.compute(w, precomputed.feature_config(config))
    feats, targets = jax.eval_shape(  # traced, not compiled: compiling all of it takes seconds
        lambda k, w, y: augment.train_batch(k, w, y, cfg, features_of, sample_rate=SR,
                                             num_classes=3),
        KEY,
        jnp.zeros((16, 8000)),
        jnp.zeros(16, jnp.int32),
    )
    assert feats.shape == (16, 51, 16) and targets.shape == (16, 3)


def test_augmented_train_step_runs_jitted_and_learns():

    # waveform, feature and mixing augmentations, the soft targets through the loss
    on = ("gain_db", "noise_prob", "spec_time_masks", "spec_time_mask_width", "cutmix_prob")
    config = tiny_mlp_config(**{key: ALL_ON[key] for key in on})
    run = trainer.Trainer(config, steps_per_epoch=20)
    state = run.init()  # the MLP has no dropout: augmentation is the step's only randomness
    rng = np.random.default_rng(0)
    t = np.arange(run.clip_samples) / SR
    label = np.arange(16, dtype=np.int32) % 2  # class 0: low tones, class 1: high tones
    f0 = np.where(label == 0, 200.0, 2000.0)[:, None] * rng.uniform(0.9, 1.1, (16, 1))
    wave = (np.sin(2 * np.pi * f0 * t) + 0.05 * rng.standard_normal(t.shape)).astype(np.float32)
    batch = {"wave": run.to_global(wave), "label": run.to_global(label)}
    losses = []
    for _ in range(20):
        state, m = run.train_step(state, batch)
        assert bool(m["finite"])
        losses.append(float(m["loss"]))
    assert np.mean(losses[-4:]) < 0.7 * np.mean(losses[:4]), losses
    # the same step of the same state augments the same way; another step (key) differently
    assert float(run.train_step(run.init(), batch)[1]["loss"]) == losses[0]
    later = run.init()
    later = later.replace(step=jax.device_put(later.step + 7, run.state_sharding.step))
    assert float(run.train_step(later, batch)[1]["loss"]) != losses[0]


@pytest.mark.parametrize(
    "stages, message",
    [
        (((1, 0.5, 0.5),), "model 'mlp', built for 51 x 16 feature maps, cannot take the 26 x 8"),
        ((1, 0.5, 0.5), "stage 1 is not"),  # one stage, not a tuple of stages
        (((1, 0.0, 0.5),), r"stage \(1, 0.0, 0.5\) is not \(num_epochs >= 1"),
        (((20, 0.5, 1.0), (10, 0.75, 1.0)), "take 30 epochs of config.train.num_epochs=30"),
    ],
)  # fmt: skip
def test_bad_progressive_resizing_is_named(stages, message):
    config = tiny_mlp_config()
    config.train.progressive_resizing = stages
    with pytest.raises(errors.ConfigError, match=message):
        config_lib.validate(config)


def test_progressive_resizing_takes_models_that_pool_over_the_resized_axes():
    config = tiny_mlp_config()
    config.train.progressive_resizing = ((1, 0.5, 1.0),)  # the MLP pools over time only
    config_lib.validate(config)
    config = config_lib.base_config(model={"name": "cnn", "channels": (4, 8)})
    config.train.progressive_resizing = ((5, 0.5, 0.5), (5, 0.75, 0.75))
    config_lib.validate(config)


def test_progressive_resizing_stage_follows_the_epoch_also_on_resume():

    config = tiny_mlp_config()
    config.train.progressive_resizing = ((2, 0.5, 0.5), (1, 0.75, 1.0), (1, 1.0, 1.0))
    expected = [(0.5, 0.5)] * 10 + [(0.75, 1.0)] * 5 + [None] * 15  # 5 steps per epoch
    assert [loop.resize_for_step(config.train, step, 5) for step in range(30)] == expected
    # resumed from a checkpoint mid-epoch, with the config saved in the workdir (lists in JSON)
    saved = ml_collections.ConfigDict(json.loads(config.to_json_best_effort()))
    assert [loop.resize_for_step(saved.train, step, 5) for step in (7, 12, 17)] == [
        (0.5, 0.5), (0.75, 1.0), None
    ]  # fmt: skip
    saved = json.loads(config.to_json_best_effort())
    del saved["train"]["progressive_resizing"]  # a config saved before the key existed: full size
    assert loop.resize_for_step(config_lib.from_saved(saved).train, 7, 5) is None
    config.train.progressive_resizing = ()
    assert loop.resize_for_step(config.train, 0, 5) is None


def test_progressive_resizing_feeds_the_model_the_small_maps(monkeypatch):
    import flax.linen as nn

    from jax_ser import models

    seen = []

    class ShapeRecorder(nn.Module):
        """Records the shape of the feature maps it is traced with."""

        num_classes: int

        @nn.compact
        def __call__(self, feats, train: bool = False):
            seen.append(feats.shape)
            return nn.Dense(self.num_classes)(jnp.mean(feats, axis=(1, 2))[:, None])

    monkeypatch.setattr(models, "build", lambda cfg, num_classes: ShapeRecorder(num_classes))
    config = tiny_mlp_config()
    config.train.progressive_resizing = ((1, 0.5, 0.5),)
    run = trainer.Trainer(config, steps_per_epoch=2)
    assert seen == [(1, 51, 16)]  # the weights are built at the full size
    wave = waves(16, run.clip_samples)
    batch = {"wave": run.to_global(wave), "label": run.to_global(np.arange(16, dtype=np.int32) % 8)}
    resize = loop.resize_for_step(config.train, 1, 2)  # the first epoch's second step
    state, m = run.train_step(run.init(), batch, resize)
    assert bool(m["finite"]) and int(state.step) == 1
    assert seen[-1] == (16, 26, 8)  # 51 x 16 halved: the first epoch trains on small maps
    run.eval_step(state, {"wave": run.to_global(np.asarray(wave)[:, None])})
    assert seen[-1] == (16, 51, 16)  # evaluation: always the full size
