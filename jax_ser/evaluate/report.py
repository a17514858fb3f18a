"""What a finished run writes: validation and test reports, confusion and reliability plots,
per-utterance predictions, calibration, the data counts, and where and with what it ran
(metrics.json)."""

from __future__ import annotations

import json
import logging
import platform
import subprocess
import time
from pathlib import Path

import jax
import numpy as np

from jax_ser.data import labels
from jax_ser.evaluate import calibration, metrics

log = logging.getLogger(__name__)


def evaluate_and_write(
    config, workdir: Path, split, parts, targets, decoded, probs_of, results: dict,
    model_info: dict, t_start: float,
) -> dict:
    """Validation and test reports of the final model (`probs_of(part_name)` gives its class
    probabilities), confusion and reliability PNGs, per-utterance predictions, the calibration
    before and after temperature scaling, the data counts with each part's speakers, and
    metrics.json."""
    class_names = labels.task_classes(config.data.task)
    results = {"split": split.name, "speaker_independent": split.speaker_independent, **results}
    all_probs = {}
    for name in ("val", "test"):
        if parts[name]:
            probs = all_probs[name] = probs_of(name)
            report = metrics.classification_report(targets[name], probs, class_names)
            results[name] = report
            if jax.process_index() == 0:
                metrics.plot_confusion_matrix(
                    np.array(report["confusion_matrix"]),
                    class_names,
                    workdir / f"confusion_{name}.png",
                    title=f"{name}: UA {report['ua']:.3f}, WA {report['wa']:.3f} ({split.name})",
                )
                write_predictions(workdir / f"predictions_{name}.jsonl", parts[name], probs,
                                   class_names)
    calibrated = temperature_scaling(config, results, targets, all_probs, class_names)
    if jax.process_index() == 0:
        for name, probs in all_probs.items():
            metrics.plot_reliability_diagram(
                targets[name],
                probs,
                workdir / f"reliability_{name}.png",
                title=f"{name}: reliability ({split.name})"
                + (f", T = {results['calibration']['temperature']:.2f}" if calibrated else ""),
                calibrated=calibrated.get(name),
            )
    bad_here = {
        u.path: decoded.bad[u.path]
        for part in (split.train, split.val, split.test)
        for u in part
        if u.path in decoded.bad
    }
    results["data"] = {
        "corpus": config.data.corpus,
        "task": config.data.task,
        "classes": list(class_names),
        **{f"num_{k}": len(v) for k, v in parts.items()},
        **{f"{k}_speakers": sorted({u.speaker_key for u in v}) for k, v in parts.items()},
        "bad_files": {"count": len(bad_here), "files": bad_here},
    }
    results["model"] = model_info
    results["train_time_s"] = round(time.time() - t_start, 1)
    results["devices"] = [str(d) for d in jax.devices()]
    results["provenance"] = provenance()
    if jax.process_index() == 0:
        (workdir / "metrics.json").write_text(json.dumps(results, indent=2))
    return results


def temperature_scaling(config, results: dict, targets, probs: dict, class_names) -> dict:
    """With eval.temperature_scaling and validation speakers: fit one temperature on the
    validation outputs (jax_ser.evaluate.calibration), record NLL, ECE and ROC AUC of each part
    before and after it in results["calibration"], and return the calibrated probabilities by part
    name."""
    if not config.eval.temperature_scaling:
        return {}
    if "val" not in probs:
        log.info("temperature scaling skipped: the split has no validation speakers to fit it on")
        results["calibration"] = {"skipped": "no validation speakers"}
        return {}
    temperature = calibration.fit_temperature(targets["val"], probs["val"])
    if not 1.01 * calibration.T_RANGE[0] < temperature < 0.99 * calibration.T_RANGE[1]:
        log.warning("temperature %.3g is at the edge of its search range %s: too few or too "
                    "extreme validation outputs to fit it well", temperature, calibration.T_RANGE)
    calibrated = {name: calibration.apply_temperature(p, temperature) for name, p in probs.items()}
    results["calibration"] = {
        "method": "temperature scaling of log-probabilities: softmax(log(p) / T)",
        "temperature": temperature,
        "fitted_on": f"val ({len(targets['val'])} utterances)",
    }
    for name, p in calibrated.items():
        after = metrics.classification_report(targets[name], p, class_names)
        results["calibration"][name] = {
            key: {"raw": results[name][key], "calibrated": after[key]}
            for key in ("nll", "ece", "roc_auc")
        }
    summary = results["calibration"].get("test", results["calibration"]["val"])
    log.info(
        "temperature %.3f fitted on the validation speakers: %s NLL %.3f -> %.3f, ECE %.3f -> %.3f",
        temperature,
        "test" if "test" in calibrated else "val",
        summary["nll"]["raw"],
        summary["nll"]["calibrated"],
        summary["ece"]["raw"],
        summary["ece"]["calibrated"],
    )
    return calibrated


def write_predictions(path: Path, utterances, probs: np.ndarray, class_names) -> None:
    """One JSON line per evaluated utterance, for error analysis: truth, prediction,
    probabilities."""
    with open(path, "w") as f:
        for u, p in zip(utterances, probs):
            f.write(json.dumps(prediction_line(u, p, class_names)) + "\n")


def prediction_line(utterance, probs: np.ndarray, class_names) -> dict:
    """One utterance's line of predictions_<part>.jsonl."""
    return {"path": utterance.path, "speaker": utterance.speaker_key, "label": utterance.label,
            "predicted": class_names[int(np.argmax(probs))],
            "probs": {c: round(float(q), 6) for c, q in zip(class_names, probs)}}


def provenance() -> dict:
    """Where and with what the run was made: the code's commit, versions, devices, host."""
    import flax
    import optax

    repo = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "-C", str(repo), "describe", "--always", "--dirty",
                                 "--abbrev=12"], capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "commit": commit,
        "python": platform.python_version(),
        "jax": jax.__version__,
        "flax": flax.__version__,
        "optax": optax.__version__,
        "backend": jax.default_backend(),
        "device_kind": jax.devices()[0].device_kind,
        "device_count": jax.device_count(),
        "process_count": jax.process_count(),
        "host": platform.node(),
        "host_cpu": _cpu_name(),
        "host_cores": _core_count(),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _core_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
