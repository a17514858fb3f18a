"""A host without TensorFlow, simulated: after `import tests.without_tensorflow`, Python finds no
`tensorflow` package (importlib.util.find_spec gives None, `import tensorflow` fails), as on a GPU
image that lacks it; TFDS and everything else import as they are.

  python -m tests.without_tensorflow -m jax_ser.main --config ...   # a program, so
"""

import importlib.machinery
import runpy
import sys


class _PathFinderWithoutTensorFlow(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            return None
        return super().find_spec(name, path, target)


if any(m == "tensorflow" or m.startswith("tensorflow.") for m in sys.modules):
    raise RuntimeError("tensorflow is imported already: import tests.without_tensorflow first")
sys.meta_path[:] = [_PathFinderWithoutTensorFlow if f is importlib.machinery.PathFinder else f
                    for f in sys.meta_path]

if __name__ == "__main__":
    if sys.argv[1:2] != ["-m"] or len(sys.argv) < 3:
        raise SystemExit("usage: python -m tests.without_tensorflow -m MODULE [ARGS...]")
    module, sys.argv = sys.argv[2], [sys.argv[2], *sys.argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
