"""Real-time factor of labelling a long recording with jax_ser.evaluate.trained (what jax_ser.predict uses).

  python -m benchmarks.predict_speed [--workdir runs/demo] [--minutes 10] [--repeats 3]

The recording is synthetic speech with pauses, written as a 16-bit WAV, and goes through
Trained.predict_file as `python -m jax_ser.predict` does it: decoding, trimming, sliding windows
and the jitted evaluation step. RTF = processing time / audio duration, from the calls after the
first; the first call's extra time (compilation) is reported on its own. Without --workdir, a
workdir of freshly initialised weights of --config is written to a temporary folder: the speed does
not depend on the weights' values.
"""

import tempfile
import time
from pathlib import Path

import jax
import numpy as np
import soundfile as sf
from absl import app, flags, logging
from ml_collections import config_flags

from benchmarks import common
from jax_ser.config import workdir as workdir_lib
from jax_ser.data import batches
from jax_ser.evaluate import runner, trained
from jax_ser.train import checkpoints

REPO = Path(__file__).resolve().parents[1]


def write_workdir(config, workdir: Path) -> None:
    """What a trained run holds, written as train.py writes it: config.json and a `best` checkpoint."""
    workdir.mkdir(parents=True)
    workdir_lib.save_or_check_config(config, workdir)
    state = runner.Runner(config).init()
    ckpts = checkpoints.Checkpoints(workdir / "checkpoints")
    ckpts.save_best(0, {"params": state.params, "model_state": state.model_state},
                    {"epoch": 0, "score": 0.0})
    ckpts.wait()
    ckpts.close()


def benchmark(config=None, *, workdir: str = "", minutes: float = 10.0,
              repeats: int = 3) -> dict:
    """Prints the load, first-call and steady times and the RTF; returns them (seconds)."""
    batches.hide_gpus_from_tf()
    with tempfile.TemporaryDirectory(prefix="predict_speed_") as tmp:
        tmp = Path(tmp)
        if not workdir:
            workdir = tmp / "workdir"
            write_workdir(config, workdir)
        sample_rate = 16000
        recording = tmp / "recording.wav"
        sf.write(recording, common.speech(60 * minutes, sample_rate=sample_rate,
                                          pause_seconds=(0.2, 1.5)),
                 sample_rate, subtype="PCM_16")
        duration = sf.info(recording).duration

        start = time.perf_counter()
        predictor = trained.Trained(workdir)
        load = time.perf_counter() - start
        times = []
        for _ in range(1 + repeats):  # the first call compiles the evaluation step
            start = time.perf_counter()
            result = predictor.predict_file(str(recording))
            times.append(time.perf_counter() - start)
    first, steady = times[0], float(np.median(times[1:]))
    figures = {"load": load, "compile": first - steady, "steady": steady,
               "rtf": steady / duration}
    config, windows = predictor.config, len(result.get("segments", ())) or 1
    print(f"device: {jax.devices()[0].device_kind} x{jax.device_count()}; model "
          f"{config.model.name}, {windows} windows of {config.data.clip_seconds:g} s (half-window "
          f"hop) in a {duration / 60:.1f} min recording")
    common.print_table(("stage", "seconds", "real-time factor"), [
        ("load workdir (trained.Trained)", load, load / duration),
        ("first call's extra time (compilation)", first - steady, (first - steady) / duration),
        (f"predict_file (median of {repeats})", steady, figures["rtf"]),
    ])
    print(f"RTF (processing time / audio duration): {figures['rtf']:.4f}")
    return figures


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)  # orbax logs every step of a save at INFO
    f = flags.FLAGS
    benchmark(f.config, workdir=f.workdir, minutes=f.minutes, repeats=f.repeats)


def define_flags():
    """Command-line flags, defined only when run as a program, so the module imports cleanly."""
    config_flags.DEFINE_config_file(
        "config", str(REPO / "configs" / "resnet18_mel.py"),
        "Config of the model to time, when no --workdir is given.", lock_config=True)
    flags.DEFINE_string("workdir", "",
                        "A trained run's workdir; default: fresh weights of --config.")
    flags.DEFINE_float("minutes", 10.0, "Length of the recording.")
    flags.DEFINE_integer("repeats", 3, "Timed calls after the first; the median is reported.")


if __name__ == "__main__":
    define_flags()
    app.run(main)
