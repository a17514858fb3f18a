"""jax_ser: speech emotion recognition in JAX/Flax.

    model = jax_ser.load("runs/resnet18_mel")   # a trained run's workdir; a list is an ensemble
    model.predict(waveform, sample_rate)         # {"label": ..., "probs": {...}, ...}
"""

import importlib
import os

# TensorFlow only runs the host input pipeline; its C++ start-up notices are noise here.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def load(workdirs):
    """A trained model (jax_ser.evaluate.model.Model) from a workdir, or an ensemble of several."""
    # Looked up on use: every submodule's import runs this file, which must stay free of them.
    return importlib.import_module("jax_ser.evaluate.model").load(workdirs)
