"""Stand-in for the few TensorFlow calls jax_ser makes, for a machine with JAX's GPU build and no
TensorFlow (GPU images often lack it; it brings its own CUDA libraries):

  PYTHONPATH=launch/no_tensorflow python -m jax_ser.cross_validate ...

tf.data's map (of a numpy_function), batch and prefetch become a thread pool that keeps the
order, so the batches are tf.data's (tests/test_launch.py). It crops a whole epoch ahead, so it
holds one epoch of crops in memory. TensorBoard summaries are not written. Not imported unless
that path is put first.
"""

import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np

float32, int32, int64, bool = "float32", "int32", "int64", "bool"  # dtypes are numpy_function's


def numpy_function(func, inp, Tout):
    return func(*inp)


class _Dataset:
    def __init__(self, make_iter):
        self._make_iter = make_iter

    @staticmethod
    def from_tensor_slices(array):
        array = np.asarray(array)
        return _Dataset(lambda: iter(array))

    def map(self, func, num_parallel_calls=None, deterministic=True):
        source = self._make_iter

        def mapped():
            with ThreadPoolExecutor(4) as pool:
                yield from pool.map(func, source())

        return _Dataset(mapped)

    def batch(self, size, drop_remainder=False):
        source = self._make_iter

        def batched():
            items = []
            for item in source():
                items.append(item)
                if len(items) == size:
                    yield tuple(np.stack(column) for column in zip(*items))
                    items = []
            if items and not drop_remainder:
                yield tuple(np.stack(column) for column in zip(*items))

        return _Dataset(batched)

    def prefetch(self, buffer_size):
        return self

    def as_numpy_iterator(self):
        return self._make_iter()


class data:
    AUTOTUNE = -1
    Dataset = _Dataset


class config:
    @staticmethod
    def set_visible_devices(devices, device_type=None):
        pass


class _NoWriter:
    def as_default(self, step=None):
        return contextlib.nullcontext()

    def flush(self):
        pass


class summary:
    @staticmethod
    def create_file_writer(logdir):
        logging.getLogger(__name__).warning(
            "TensorFlow stand-in (launch/no_tensorflow): no TensorBoard summaries in %s", logdir)
        return _NoWriter()

    create_noop_writer = staticmethod(_NoWriter)
    scalar = staticmethod(lambda name, data, step=None: None)


__version__ = "stand-in"
