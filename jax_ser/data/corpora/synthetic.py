"""The built-in generated corpus: made on first use, then read like RAVDESS (same file names)."""

import os

from jax_ser.data.corpora import Utterance, ravdess

MARKER = "COMPLETE"


def default_root() -> str:
    cache = os.environ.get("JAX_SER_CACHE", "~/.cache/jax_ser")
    return os.path.expanduser(os.path.join(cache, "synthetic_v1"))


def read(root: str | None) -> list[Utterance]:
    root = root or default_root()
    if not os.path.isfile(os.path.join(root, MARKER)):
        from jax_ser.data import synthetic  # the generator, needed only when the cache is empty
        synthetic.generate(root)
    return ravdess.read_tree(root, "synthetic")
