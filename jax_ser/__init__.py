"""jax_ser: speech emotion recognition in JAX/Flax."""

import os

# TensorFlow only runs the host input pipeline; its C++ start-up notices are noise here.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
