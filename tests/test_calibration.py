"""Temperature scaling lowers the NLL of over-confident outputs and keeps every prediction; the
evaluation writes the reliability diagram and the calibration before and after it."""

import json

import numpy as np
import pytest

from jax_ser.data import cache, labels
from jax_ser.data.corpora import Utterance
from jax_ser.evaluate import calibration, metrics, report
from jax_ser.protocols import Split
from tests import tiny_config

CLASSES = labels.task_classes("ravdess8")


def overconfident(n: int, seed: int, sharpness: float = 6.0):
    """Targets and softmax outputs of noisy logits multiplied by `sharpness`: about 60% right,
    nearly always near-certain."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(CLASSES), n)
    logits = rng.normal(size=(n, len(CLASSES)))
    logits[np.arange(n), y] += 1.5
    z = sharpness * logits
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return y, p / p.sum(axis=1, keepdims=True)


def test_temperature_fitted_on_val_lowers_test_nll_and_keeps_argmax():
    y_val, p_val = overconfident(400, seed=0)
    y_test, p_test = overconfident(400, seed=1)
    t = calibration.fit_temperature(y_val, p_val)
    assert t > 2  # over-confident outputs need softening
    calibrated = calibration.apply_temperature(p_test, t)
    np.testing.assert_array_equal(calibrated.argmax(axis=1), p_test.argmax(axis=1))
    np.testing.assert_allclose(calibrated.sum(axis=1), 1.0, rtol=1e-12)
    assert calibration.nll(y_test, calibrated) < 0.8 * calibration.nll(y_test, p_test)
    ece = metrics.expected_calibration_error
    assert ece(y_test, calibrated) < 0.5 * ece(y_test, p_test)


def test_temperature_one_is_identity_and_softmax_logits_are_recovered():
    _, p = overconfident(20, seed=2, sharpness=1.0)
    np.testing.assert_allclose(calibration.apply_temperature(p, 1.0), p, rtol=1e-9)
    # softmax(log softmax(z) / T) == softmax(z / T)
    logits = np.log(p)
    z = logits / 3.0
    expected = np.exp(z - z.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(calibration.apply_temperature(p, 3.0), expected, rtol=1e-9)
    with pytest.raises(ValueError, match="positive"):
        calibration.apply_temperature(p, 0.0)


def test_reliability_bins_match_ece_and_diagram_is_written(tmp_path):
    y, p = overconfident(200, seed=3)
    edges, accuracy, confidence, counts = metrics.reliability_bins(y, p)
    assert counts.sum() == 200 and len(edges) == metrics.ECE_BINS
    used = counts > 0
    ece = np.sum(counts[used] * np.abs(accuracy[used] - confidence[used])) / 200
    assert ece == pytest.approx(metrics.expected_calibration_error(y, p))
    path = tmp_path / "plots" / "reliability_test.png"
    metrics.plot_reliability_diagram(y, p, path, title="test",
                                     calibrated=calibration.apply_temperature(p, 4.0))
    assert path.read_bytes().startswith(b"\x89PNG")


def _evaluate(tmp_path, val: bool, **eval_overrides):
    """evaluate_and_write on fixed outputs, without a model."""
    config = tiny_config.get_config()
    for key, value in eval_overrides.items():
        config.eval[key] = value
    y, probs, utts = {}, {}, {"train": [Utterance("/t.wav", "sad", "01", "ravdess")]}
    for seed, part in enumerate(("val", "test")):
        y[part], probs[part] = overconfident(160, seed=4 + seed)
        utts[part] = [Utterance(f"/{part}/{i}.wav", CLASSES[c], f"{seed + 2:02d}", "ravdess")
                      for i, c in enumerate(y[part])]
    if not val:
        utts["val"] = []
    split = Split("fold:0", utts["train"], utts["val"], utts["test"], True)
    return report.evaluate_and_write(
        config, tmp_path, split, utts, y, cache.Decoded({}, {}),
        lambda name: probs[name], {"best_epoch": 1}, {"name": "none"}, 0.0,
    )


def test_evaluation_reports_calibration_before_and_after(tmp_path):
    results = _evaluate(tmp_path, val=True)
    written = json.loads((tmp_path / "metrics.json").read_text())
    cal = written["calibration"]
    assert cal["temperature"] > 1 and cal["fitted_on"].startswith("val")
    assert cal["test"]["nll"]["calibrated"] < cal["test"]["nll"]["raw"] == written["test"]["nll"]
    assert cal["test"]["ece"]["raw"] == written["test"]["ece"]
    assert results["test"]["ua"] == written["test"]["ua"]  # predictions are the raw ones
    for part in ("val", "test"):
        assert (tmp_path / f"reliability_{part}.png").exists()
        assert (tmp_path / f"confusion_{part}.png").exists()


def test_calibration_skipped_without_validation_speakers_or_when_off(tmp_path):
    results = _evaluate(tmp_path / "a", val=False)
    assert results["calibration"] == {"skipped": "no validation speakers"}
    assert (tmp_path / "a" / "reliability_test.png").exists()
    assert "calibration" not in _evaluate(tmp_path / "b", val=True, temperature_scaling=False)
