"""Trained runs (one, or an ensemble) as a TensorFlow SavedModel, and optionally a TFLite model,
that label raw waveforms: `export(members, speakers, output_dir)`.

The exported function is the whole of `jax_ser.load(...).probs` for one recording per row: peak
normalisation, edge-silence trimming as librosa.effects.trim does it, the evaluation crops,
features, network, the mean of a run's members, its temperature and the mean of the runs. jax2tf
lowers it to StableHLO inside one XlaCallModule op, with the batch and sample dimensions
symbolic; shapes stay static after trimming because the kept part is gathered into the fixed
window rather than sliced out. The weights are TensorFlow variables beside the code, not
constants inside it. A speaker-adapted run is exported with one speaker's adapted weights and
feature statistics baked in.

TFLite cannot convert a gather whose operand has a dynamic shape, so the TFLite model is lowered
again with static shapes: one recording of at most `tflite_seconds`, zero-padded, and its length.
"""

from __future__ import annotations

import json
import os
import re
import time
import warnings
from pathlib import Path
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jax_ser.evaluate import calibration
from jax_ser.evaluate import trained as trained_lib

FILE = "jax_ser_export.json"
TFLITE_FILE = "model.tflite"
FORMATS = ("saved_model", "tflite")
WAVEFORM, NUM_SAMPLES, PROBABILITIES = "waveform", "num_samples", "probabilities"
# librosa.effects.trim's framing, which audio.preprocess trims with.
TRIM_FRAME, TRIM_HOP = 2048, 512
TFLITE_TOLERANCE = 1e-3  # largest difference from JAX's probabilities a TFLite model may have
# XLA platforms the SavedModel's StableHLO is lowered for: TensorFlow on CPU or on a GPU.
PLATFORMS = ("cpu", "cuda")


def peak_normalize(waves: jax.Array) -> jax.Array:
    """audio.preprocess's peak normalisation to 0.95, per row [B, N]."""
    peak = jnp.max(jnp.abs(waves), axis=1, keepdims=True)
    safe = jnp.where(peak > 0, peak, 1.0)
    return jnp.where(peak > 0, waves * (jnp.float32(0.95) / safe), waves)


def trim_bounds(waves: jax.Array, lengths: jax.Array,
                top_db: float) -> tuple[jax.Array, jax.Array]:
    """Start and end samples [B] of what librosa.effects.trim(top_db=top_db) keeps of each
    row's first `lengths` samples (the rest zeros), or all of them where it would keep nothing,
    as audio.preprocess does."""
    b, t = waves.shape
    n = t // TRIM_HOP + 1  # centred RMS frames of the whole row
    pieces = TRIM_FRAME // TRIM_HOP
    padded = jnp.pad(waves, ((0, 0), (TRIM_FRAME // 2, TRIM_FRAME // 2)))
    # Energies of hop-long blocks summed per frame: exact float32 sums, no cumsum cancellation.
    blocks = padded[:, : TRIM_HOP * (n + pieces - 1)].reshape(b, n + pieces - 1, TRIM_HOP)
    energy = jnp.sum(jnp.square(blocks), axis=-1)
    rms = jnp.sqrt(sum(energy[:, k:k + n] for k in range(pieces)) / TRIM_FRAME)
    frames = (lengths // TRIM_HOP + 1)[:, None]  # librosa's frames of the recording alone
    inside = jnp.arange(n) < frames
    rms = jnp.where(inside, rms, 0.0)
    ref = jnp.max(rms, axis=1, keepdims=True)
    db = (10.0 * jnp.log10(jnp.maximum(jnp.square(rms), 1e-10))
          - 10.0 * jnp.log10(jnp.maximum(jnp.square(ref), 1e-10)))
    loud = inside & (db > -top_db)
    # Quiet frames before the first loud one and after the last (those past the recording
    # among them).
    before = jnp.sum(jnp.cumsum(loud, axis=1) == 0, axis=1)
    after = jnp.sum(jnp.cumsum(loud[:, ::-1], axis=1) == 0, axis=1)
    start = before * TRIM_HOP
    end = jnp.minimum(lengths, (n - after) * TRIM_HOP)
    whole = (before == n) | (end <= start)
    return jnp.where(whole, 0, start), jnp.where(whole, lengths, end)


def crop_windows(waves: jax.Array, start: jax.Array, end: jax.Array, length: int,
                 num_crops: int) -> jax.Array:
    """audio.eval_crops of each row's waves[start:end]: [B, num_crops, length], by one gather."""
    b, t = waves.shape
    kept = (end - start)[:, None]
    span = jnp.abs(kept - length)
    if num_crops == 1:
        offset = span // 2
    else:  # round(span * i / (num_crops - 1)) half to even, as np.linspace(...).round()
        q, r = jnp.divmod(span * jnp.arange(num_crops), num_crops - 1)
        offset = q + ((2 * r > num_crops - 1) | ((2 * r == num_crops - 1) & (q % 2 == 1)))
    j = jnp.arange(length)
    # Where each window sample lies in the kept part: a crop of a longer part, or a shorter
    # part placed at the offset in a zero-padded window.
    pos = jnp.where((kept >= length)[..., None], offset[..., None] + j, j - offset[..., None])
    valid = (pos >= 0) & (pos < kept[..., None])
    index = jnp.clip(start[:, None, None] + pos, 0, t - 1).reshape(b, -1)
    picked = jnp.take_along_axis(waves, index, axis=1).reshape(b, num_crops, length)
    return jnp.where(valid, picked, 0.0)


def member_probs(trained, variables: dict, waves: jax.Array, lengths: jax.Array) -> jax.Array:
    """Uncalibrated `trained.probs` [B, C] of each row's first `lengths` samples of raw waveform
    [B, N], with `variables` (params, model_state and, for features.normalize=speaker, the
    speaker's feature statistics `stats`)."""
    config, runner = trained.config, trained.runner
    lengths = jnp.clip(lengths, 0, waves.shape[1])
    waves = jnp.where(jnp.arange(waves.shape[1]) < lengths[:, None], waves, 0.0)
    if config.data.normalize:
        waves = peak_normalize(waves)
    if config.data.trim_db:
        start, end = trim_bounds(waves, lengths, float(config.data.trim_db))
    else:
        start, end = jnp.zeros_like(lengths), lengths
    batch = {"wave": crop_windows(waves, start, end, runner.clip_samples, config.eval.crops)}
    if "stats" in variables:
        stats = variables["stats"]
        batch["speaker_stats"] = jnp.broadcast_to(stats, (waves.shape[0], *stats.shape))
    state = trained.state.replace(params=variables["params"],
                                  model_state=variables["model_state"])
    return runner._eval_step(state, batch)


def ensemble_probs(members, variables: list, waves: jax.Array, lengths: jax.Array) -> jax.Array:
    """`jax_ser.load(...).probs` in JAX: the members' mean within each run, calibrated with the
    run's temperature (calibration.apply_temperature, in float32), then the runs' mean."""
    runs = []
    for temperature, indices in trained_lib.calibration_groups(members):
        probs = jnp.mean(jnp.stack([member_probs(members[i], variables[i], waves, lengths)
                                    for i in indices]), axis=0)
        if temperature is not None:
            probs = jax.nn.softmax(jnp.log(jnp.maximum(probs, calibration.TINY)) / temperature)
        runs.append(probs)
    return jnp.mean(jnp.stack(runs), axis=0)


def exported_variables(members, speakers) -> list[dict]:
    """Each member's weights as numpy, adapted to its speaker where it has one; ValueError for
    a member that cannot be exported."""
    out = []
    for trained, speaker in zip(members, speakers):
        if trained.state is None:
            raise ValueError(
                f"{trained.workdir} is a classical (scikit-learn) model: it has no JAX graph to "
                "export; label with python -m jax_ser.predict instead")
        if speaker is None and trained.needs_speaker:
            raise ValueError(
                f"{trained.workdir} adapts to the speaker ({', '.join(trained.adapter_names)}): "
                "export it adapted to recordings of one speaker (--speaker_files)")
        state = trained.state if speaker is None else speaker.state
        variables = {"params": state.params, "model_state": state.model_state}
        if speaker is not None and speaker.stats is not None:
            variables["stats"] = speaker.stats
        out.append(jax.tree.map(lambda x: np.asarray(jax.device_get(x)), variables))
    return out


def export(members: Sequence, speakers: Sequence | None, output_dir: str | os.PathLike,
           fmt: str = "saved_model", speaker_files: int = 0,
           tflite_seconds: float | None = None) -> dict:
    """Write `members` (Trained runs; several average as an ensemble), each adapted to its
    entry of `speakers` (jax_ser.adapt.Speaker or None), as a SavedModel in `output_dir`;
    with fmt="tflite" also model.tflite for one recording of at most `tflite_seconds`
    (default: the training window). Returns what it wrote to jax_ser_export.json.
    `speaker_files`: how many recordings the speakers were adapted to, for the record."""
    import tensorflow as tf
    from jax.experimental import jax2tf

    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    members = list(members)
    speakers = list(speakers) if speakers is not None else [None] * len(members)
    if len(speakers) != len(members):
        raise ValueError(f"{len(speakers)} speakers for {len(members)} members")
    variables = exported_variables(members, speakers)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / TFLITE_FILE).unlink(missing_ok=True)  # a stale one would not match
    t0 = time.time()

    def probs(variables, waves, lengths):
        return ensemble_probs(members, variables, waves, lengths)

    module = tf.Module()
    module.weights = jax.tree.map(lambda x: tf.Variable(x, trainable=False), variables)
    padded_tf = jax2tf.convert(probs, polymorphic_shapes=[None, "(b, t)", "(b,)"],
                               with_gradient=False, native_serialization_platforms=PLATFORMS)
    waveform = tf.TensorSpec([None, None], tf.float32, name=WAVEFORM)
    num_samples = tf.TensorSpec([None], tf.int32, name=NUM_SAMPLES)
    module.serve_padded = tf.function(
        lambda waveform, num_samples: {
            PROBABILITIES: padded_tf(module.weights, waveform, num_samples)},
        input_signature=[waveform, num_samples], autograph=False)
    module.serve = tf.function(  # every sample of a row is the recording
        lambda waveform: module.serve_padded(
            waveform, tf.fill(tf.shape(waveform)[:1], tf.shape(waveform)[1])),
        input_signature=[waveform], autograph=False)
    tf.saved_model.save(module, str(output_dir), signatures={
        "serving_default": module.serve, "padded": module.serve_padded})
    info = describe(members, speakers, speaker_files)
    info["saved_model_bytes"] = sum(f.stat().st_size for f in output_dir.rglob("*")
                                    if f.is_file() and f.name != FILE)
    if fmt == "tflite":
        rate = int(members[0].config.data.sample_rate)
        samples = round((tflite_seconds or info["window_seconds"]) * rate)
        static_tf = jax2tf.convert(probs, with_gradient=False)
        concrete = tf.function(
            lambda waveform, num_samples: {
                PROBABILITIES: static_tf(module.weights, waveform, num_samples)},
            input_signature=[tf.TensorSpec([1, samples], tf.float32, name=WAVEFORM),
                             tf.TensorSpec([1], tf.int32, name=NUM_SAMPLES)],
            autograph=False).get_concrete_function()
        check = probe_signal(samples)
        want = np.asarray(jax.jit(probs)(variables, *check))
        try:
            info["tflite"] = {
                **to_tflite(concrete, module, output_dir / TFLITE_FILE, check, want),
                "file": TFLITE_FILE, "input_samples": samples,
                "usage": f"one recording zero-padded to {samples} samples as {WAVEFORM} [1, "
                         f"{samples}], its length as {NUM_SAMPLES} [1]"}
        except RuntimeError as e:
            info["tflite"] = {"error": str(e)}
    info["export_seconds"] = round(time.time() - t0, 1)
    (output_dir / FILE).write_text(json.dumps(info, indent=2) + "\n")
    if "error" in info.get("tflite", {}):
        raise RuntimeError(f"{info['tflite']['error']}\n(the SavedModel and {FILE} are written "
                           f"to {output_dir})")
    return info


def probe_signal(samples: int) -> tuple[np.ndarray, np.ndarray]:
    """A tone in noise between silences, zero-padded, and its length: inputs that trimming,
    cropping and the network all act on."""
    n = samples * 3 // 4
    i = np.arange(n)
    wave = np.random.default_rng(0).normal(0, 0.05, n) + 0.5 * np.sin(i * 0.09)
    wave *= (i > n // 5) & (i < n * 7 // 10)
    return np.pad(wave, (0, samples - n)).astype(np.float32)[None], np.array([n], np.int32)


def to_tflite(concrete, module, path: Path, inputs: tuple, want: np.ndarray) -> dict:
    """Convert with TFLite's builtin ops, else with TensorFlow ops as well (SELECT_TF_OPS,
    which needs the Flex delegate), and run the result on `inputs` against `want` (JAX's
    probabilities): some ops convert but refuse to run (RFFT2D of a length not a power of two).
    RuntimeError saying what failed in each attempt. Custom ops (allow_custom_ops) are not
    tried: nobody would supply their kernels, so the model would convert but not run."""
    import tensorflow as tf

    attempts = {"builtins": [tf.lite.OpsSet.TFLITE_BUILTINS],
                "builtins+select_tf_ops": [tf.lite.OpsSet.TFLITE_BUILTINS,
                                           tf.lite.OpsSet.SELECT_TF_OPS]}
    errors = {}
    for name, ops in attempts.items():
        converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], module)
        converter.target_spec.supported_ops = ops
        try:
            flat = converter.convert()
        except Exception as e:  # ConverterError, or others from the MLIR passes
            errors[name] = "; ".join(failures(str(e))) or str(e)[-500:]
            continue
        try:
            with warnings.catch_warnings():  # its deprecation in favour of LiteRT, same files
                warnings.simplefilter("ignore", UserWarning)
                interpreter = tf.lite.Interpreter(model_content=flat)
            runner = interpreter.get_signature_runner()
            got = runner(**dict(zip((WAVEFORM, NUM_SAMPLES), inputs)))[PROBABILITIES]
        except Exception as e:  # the interpreter's RuntimeError or ValueError
            errors[name] = f"converts, but does not run: {e}"
            continue
        difference = float(np.abs(got - want).max())
        if not difference <= TFLITE_TOLERANCE:
            errors[name] = f"runs, but its probabilities differ from JAX's by {difference:.3g}"
            continue
        path.write_bytes(flat)
        return {"ops": name, "bytes": len(flat),
                "max_abs_difference_on_test_signal": difference}
    raise RuntimeError("TFLite conversion failed:\n"
                       + "\n".join(f"  {k}: {v}" for k, v in errors.items()))


def failures(message: str) -> list[str]:
    """The distinct 'error:' lines of a converter message, each with the Python line it comes
    from ('file.py:12:3: error: ...')."""
    found = re.findall(r"([\w./-]+\.py:\d+:\d+: error: [^\n]+|error: [^\n]+)", message)
    return list(dict.fromkeys(f.strip() for f in found))


def describe(members, speakers, speaker_files: int) -> dict:
    """jax_ser_export.json: what the exported function expects, returns and does inside."""
    first = members[0]
    rate, clip = int(first.config.data.sample_rate), first.runner.clip_samples
    return {
        "signatures": {
            "serving_default": {"inputs": {WAVEFORM: ["batch", "samples", "float32"]},
                                "outputs": {PROBABILITIES: ["batch", len(first.labels)]}},
            "padded": {"inputs": {WAVEFORM: ["batch", "samples", "float32"],
                                  NUM_SAMPLES: ["batch", "int32"]},
                       "outputs": {PROBABILITIES: ["batch", len(first.labels)]}},
        },
        "labels": first.labels,
        "sample_rate": rate,
        "window_seconds": clip / rate,
        "window_samples": clip,
        "temperatures": [m.temperature for m in members],
        "members": [
            {"workdir": str(m.workdir), "member": m.member, "model": m.config.model.name,
             "task": m.config.data.task, "features": m.config.features.name,
             "feature_normalization": m.config.features.normalize,
             "peak_normalize": bool(m.config.data.normalize),
             "trim_db": float(m.config.data.trim_db or 0.0),
             "eval_crops": int(m.config.eval.crops), "temperature": m.temperature,
             "adapted_to_speaker": None if s is None else {
                 "methods": m.adapter_names,
                 "recordings": speaker_files}}
            for m, s in zip(members, speakers)
        ],
        "inside": [
            "peak normalisation to 0.95 (peak_normalize)",
            "edge-silence trimming as librosa.effects.trim(top_db=trim_db), frames 2048, hop 512",
            ("the evaluation crops (eval_crops; 1 = the centre) of the trimmed recording in the "
             "window; a shorter one zero-padded around it"),
            ("features and their normalisation, the network, the mean of each run's members, its "
             "temperature, the mean of the runs"),
        ],
        "caller": [
            f"decode, mix to mono and resample to {rate} Hz float32 in [-1, 1]",
            ("one recording per row; serving_default takes every sample of a row as recording, "
             "so a batch of recordings of different lengths goes through `padded`, zero-padded "
             "at the end with num_samples the length of each"),
            (f"a recording longer than {clip / rate:g} s after trimming gets the evaluation crops "
             "of it, as jax_ser's evaluation does, not jax_ser.predict's windows over the "
             "speech: cut such recordings into windows and average their probabilities for that"),
        ],
    }
