"""Speed of jax_ser's log-mel and MFCC against librosa's on the same clips, in one process.

  python -m benchmarks.features_speed [--batch 32] [--seconds 3] [--repeats 15]

The settings are the config defaults (16 kHz, n_fft 512, window 400, hop 160, 128 mel bands,
top_db 80, 40 MFCCs). jax_ser computes a whole batch in one jitted call, as in the training step:
split over the devices JAX has, each computing its own clips (`JAX_NUM_CPU_DEVICES=2`: one per
core, as the CNN and LSTM configs train). librosa is timed one clip at a time, as feature
scripts call it, and on the batch as one 2-D array.
"""

import functools

import jax
import librosa
from absl import app, flags
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from benchmarks import common
from jax_ser import config as config_lib
from jax_ser import frontend
from jax_ser.train import state


def librosa_kwargs(fc) -> dict:
    """The config's feature settings as librosa keywords (fmax 0 means Nyquist)."""
    return dict(sr=fc.sample_rate, n_fft=fc.n_fft, hop_length=fc.hop_length,
                win_length=fc.win_length, n_mels=fc.n_mels, fmin=fc.fmin, fmax=fc.fmax or None,
                pad_mode="constant")


def librosa_log_mel(y, fc):
    mel = librosa.feature.melspectrogram(y=y, **librosa_kwargs(fc))
    return librosa.power_to_db(mel, ref=1.0, top_db=fc.top_db)


def librosa_mfcc(y, fc):
    return librosa.feature.mfcc(y=y, n_mfcc=fc.n_mfcc, **librosa_kwargs(fc))  # top_db 80 built in


def benchmark(*, batch: int = 32, seconds: float = 3.0, repeats: int = 15) -> dict:
    """Prints clips/s of each implementation and jax_ser's speed-up over librosa per clip; returns
    them as {feature: {implementation or "ratio": value}}."""
    fc = config_lib.base_config(model=dict(name="resnet")).features
    clips = common.speech_clips(batch, seconds)
    mesh = state.make_mesh(1)  # the trainer's: the batch split over every device
    waves = jax.device_put(clips, NamedSharding(mesh, P(mesh.axis_names)))
    rows, figures = [], {}
    for name, reference in (("log_mel", librosa_log_mel), ("mfcc", librosa_mfcc)):
        cfg = {**fc.to_dict(), "name": name, "normalize": "none"}
        jitted = jax.jit(functools.partial(frontend.compute, feature_config=cfg, mesh=mesh))
        ours, per_clip, batched = common.compare({
            "ours": lambda: jitted(waves),
            "per_clip": lambda: [reference(c, fc) for c in clips],
            "batched": lambda: reference(clips, fc),
        }, repeats).values()
        for label, t in ((f"jax_ser, jitted batch of {batch}", ours),
                         ("librosa, one clip at a time", per_clip),
                         (f"librosa, [{batch}, N] array", batched)):
            rows.append((name, label, batch / t, 1e3 * t / batch, per_clip / t))
        figures[name] = {"jax_ser": batch / ours, "librosa": batch / per_clip,
                         "librosa_batched": batch / batched, "ratio": per_clip / ours}
    print(f"device: {jax.devices()[0].device_kind} x{jax.device_count()}; {batch} clips of "
          f"{seconds:g} s at {fc.sample_rate} Hz; n_fft {fc.n_fft}, window {fc.win_length}, "
          f"hop {fc.hop_length}, {fc.n_mels} mels, {fc.n_mfcc} MFCCs")
    common.print_table(("feature", "implementation", "clips/s", "ms per clip",
                        "speed vs librosa per clip"), rows)
    for name, f in figures.items():
        common.print_ratio(name, "librosa", f["ratio"])
    return figures


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    f = flags.FLAGS
    benchmark(batch=f.batch, seconds=f.seconds, repeats=f.repeats)


def define_flags():
    """Command-line flags, defined only when run as a program, so the module imports cleanly."""
    flags.DEFINE_integer("batch", 32, "Clips per batch.")
    flags.DEFINE_float("seconds", 3.0, "Length of each clip.")
    flags.DEFINE_integer("repeats", 15, "Timed calls per implementation; the median is reported.")


if __name__ == "__main__":
    define_flags()
    app.run(main)
