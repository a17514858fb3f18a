"""random: 80/10/10 of each label's utterances, speakers shared between the parts. Speaker-
dependent, so only on explicit request (data.allow_random_split)."""

from __future__ import annotations

import logging
from collections import defaultdict

import numpy as np

from jax_ser.protocols import Split

log = logging.getLogger(__name__)

FORM = r""


def split(utterances, arg: str, options):
    if not options.allow_random:
        raise ValueError("split 'random' shares speakers between train and test; set "
                         "data.allow_random_split=True to use it anyway")
    return _random_split(utterances, "random", options.seed)


def _random_split(utterances, name: str, seed: int) -> Split:
    """80/10/10 of each label's utterances, so rare classes appear in every part."""
    log.warning("split %r is random: speakers are shared between train, val and test, so "
                    "results are speaker-dependent and not comparable to speaker-independent ones",
                    name)
    rng = np.random.default_rng(seed)
    by_label = defaultdict(list)
    for i, u in enumerate(utterances):
        by_label[u.label].append(i)
    part_of = {}
    for label in sorted(by_label):
        indices = rng.permutation(by_label[label])
        n_eval = round(0.1 * len(indices))
        for rank, i in enumerate(indices):
            part_of[i] = "test" if rank < n_eval else "val" if rank < 2 * n_eval else "train"
    parts = {p: [u for i, u in enumerate(utterances) if part_of[i] == p]
             for p in ("train", "val", "test")}
    return Split(name, parts["train"], parts["val"], parts["test"], speaker_independent=False)


