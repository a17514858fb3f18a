"""Speed and memory of labelling recordings with `jax_ser.load(workdir).predict_files`, what
`python -m jax_ser.predict` runs.

  python -m benchmarks.predict_speed [--configs resnet18_mel,ravdess_best] [--files 240]
      [--minutes 60]

Each config is measured in a fresh process, on a workdir of freshly initialised weights written
beforehand (speed does not depend on the weights' values):
- short files: --files speech-like 3.5 s clips, 48 kHz stereo 16-bit like RAVDESS, in folders of
  60 (one speaker each), labelled as `jax_ser.predict` labels folders: a model that adapts to the
  speaker is adapted to each folder first, and that time counts. Files/s is timed after a warm-up
  call that compiles, end to end and without the adaptation. The reference, in the same process:
  the same (adapted) model labelling one file per call (`Model.predict`), as jax_ser.predict did
  before it batched files;
- a --minutes recording (48 kHz mono, speech with pauses): RTF = processing time / duration;
- the process's peak resident memory over both.
The last lines are machine-readable: `ratio jax_ser/one_file_per_call: <X>x` and `RTF: <X>`.
"""

from __future__ import annotations

import multiprocessing
import resource
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
import soundfile as sf
from absl import app, flags, logging

from benchmarks import common
from jax_ser.config import cli
from jax_ser.config import workdir as workdir_lib
from jax_ser.evaluate import model as model_lib
from jax_ser.evaluate import runner, speaker_groups
from jax_ser.train import checkpoints

FILE_SECONDS, FILE_RATE, FILES_PER_SPEAKER = 3.5, 48000, 60


def write_workdir(config, workdir: Path) -> None:
    """What a trained run holds, written as training writes it: config.json and a `best`
    checkpoint."""
    workdir.mkdir(parents=True)
    workdir_lib.save_or_check_config(config, workdir)
    state = runner.Runner(config).init()
    ckpts = checkpoints.Checkpoints(workdir / "checkpoints")
    ckpts.save_best(0, {"params": state.params, "model_state": state.model_state},
                    {"epoch": 0, "score": 0.0})
    ckpts.wait()
    ckpts.close()


def write_audio(folder: Path, files: int, minutes: float) -> tuple[list[str], Path]:
    """The short files (folders of FILES_PER_SPEAKER) and the long recording, written a minute
    at a time."""
    paths = []
    for i in range(files):
        path = folder / f"speaker{i // FILES_PER_SPEAKER:02d}" / f"{i:04d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        clip = common.speech(FILE_SECONDS, seed=i, sample_rate=FILE_RATE)
        sf.write(path, np.stack([clip, clip], axis=1), FILE_RATE, subtype="PCM_16")
        paths.append(str(path))
    recording = folder / "recording.wav"
    with sf.SoundFile(recording, "w", FILE_RATE, 1, subtype="PCM_16") as f:
        for minute in range(int(np.ceil(minutes))):
            seconds = min(60.0, 60 * minutes - 60 * minute)
            f.write(common.speech(seconds, seed=10_000 + minute, sample_rate=FILE_RATE,
                                  pause_seconds=(0.2, 1.5)))
    return paths, recording


def label_folders(model, paths: list[str]) -> tuple[list[dict], float]:
    """What jax_ser.predict does with these files, each folder one speaker where the model
    adapts; also the seconds spent adapting."""
    if not model.needs_speaker:
        return list(model.predict_files(paths)), 0.0
    lines, adapting = [], 0.0
    for speaker, files in speaker_groups.group(paths, "folder").items():
        start = time.perf_counter()
        adapted = model.adapt(files, speaker)
        adapting += time.perf_counter() - start
        lines += adapted.predict_files(files)
    return lines, adapting


def measure(workdir: Path, paths: list[str], recording: Path, reference_files: int
            ) -> dict:
    """Every figure of one workdir; run in its own process so that its peak memory is what
    labelling takes."""
    logging.set_verbosity(logging.WARNING)
    model = model_lib.load(workdir)
    label_folders(model, paths[:FILES_PER_SPEAKER])  # compiles every step
    start = time.perf_counter()
    lines, adapting = label_folders(model, paths)
    seconds = time.perf_counter() - start
    one_model = model.adapt(paths[:FILES_PER_SPEAKER]) if model.needs_speaker else model
    reference = paths[:reference_files]
    waves = [sf.read(p, dtype="float32") for p in reference]
    start = time.perf_counter()
    for wave, rate in waves:
        one_model.predict(wave, rate)
    reference_per_s = len(reference) / (time.perf_counter() - start)
    start = time.perf_counter()
    line = next(one_model.predict_files([str(recording)]))
    long_seconds = time.perf_counter() - start
    speakers = -(-len(paths) // FILES_PER_SPEAKER)
    return {
        "adapts": model.needs_speaker, "files_per_s": len(lines) / seconds,
        "labelling_files_per_s": len(lines) / (seconds - adapting),
        "adapt_s_per_speaker": adapting / speakers, "reference_files_per_s": reference_per_s,
        "recording_s": line["duration_s"], "speech_s": line["speech_s"],
        "segments": len(line["segments"]), "long_s": long_seconds,
        "rtf": long_seconds / line["duration_s"],
        "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def benchmark(configs: dict, *, files: int = 240, minutes: float = 60.0,
              reference_files: int = 24) -> dict[str, dict]:
    """Prints a table of every config's figures and the verdict lines; returns the figures."""
    spawn = multiprocessing.get_context("spawn")
    figures = {}
    with tempfile.TemporaryDirectory(prefix="predict_speed_") as tmp:
        tmp = Path(tmp)
        paths, recording = write_audio(tmp / "audio", files, minutes)
        with spawn.Pool(1, maxtasksperchild=1) as pool:
            for name, config in configs.items():
                write_workdir(config, tmp / name)
                figures[name] = pool.apply(measure, (tmp / name, paths, recording,
                                                     min(reference_files, files)))
    print(f"device: {jax.devices()[0].device_kind} x{jax.device_count()}; {files} files of "
          f"{FILE_SECONDS:g} s at {FILE_RATE} Hz stereo in folders of {FILES_PER_SPEAKER}; a "
          f"{minutes:g} min recording")
    common.print_table(
        ("config", "files/s", "labelling only: files/s", "adapting: s per speaker",
         "one file per call: files/s", "ratio", "long recording: s", "RTF", "peak memory: GB"),
        [(name, f["files_per_s"], f["labelling_files_per_s"],
          f["adapt_s_per_speaker"] if f["adapts"] else "-", f["reference_files_per_s"],
          f["labelling_files_per_s"] / f["reference_files_per_s"], f["long_s"], f["rtf"],
          f["peak_gb"]) for name, f in figures.items()])
    for name, f in figures.items():
        print(f"{name}: ratio jax_ser/one_file_per_call: "
              f"{f['labelling_files_per_s'] / f['reference_files_per_s']:.2f}x")
        print(f"{name}: RTF: {f['rtf']:.4f}")
    return figures


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)  # orbax logs every step of a save at INFO
    f = flags.FLAGS
    configs = {name: common.load_config(cli.find(name)) for name in f.configs}
    benchmark(configs, files=f.files, minutes=f.minutes)


def define_flags():
    """Command-line flags, defined only when run as a program, so the module imports cleanly."""
    flags.DEFINE_list("configs", ["resnet18_mel", "ravdess_best"], "Configs to time, by name.")
    flags.DEFINE_integer("files", 240, "Short files to label.")
    flags.DEFINE_float("minutes", 60.0, "Length of the long recording.")


if __name__ == "__main__":
    define_flags()
    app.run(main)
