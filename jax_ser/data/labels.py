"""The shared emotion vocabulary and the named tasks that map it onto each benchmark's classes.

Readers emit canonical names; a task decides which of them a model sees, so the same corpus can be
scored under the class sets published results use (e.g. IEMOCAP's four classes, happy + excited).
"""

import collections
import dataclasses
import logging

from jax_ser.data.corpora import Utterance

log = logging.getLogger(__name__)

VOCABULARY = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised",
              "boredom", "excited", "frustrated", "other")


def _identity(*names: str) -> dict[str, str]:
    return {name: name for name in names}


# canonical label -> task class; labels missing from a map are dropped.
TASKS = {
    "ravdess8": _identity(*VOCABULARY[:8]),
    "ravdess7": {**_identity(*VOCABULARY[:8]), "calm": "neutral"},
    "iemocap4": {**_identity("neutral", "happy", "sad", "angry"), "excited": "happy"},
    "emodb7": _identity("neutral", "boredom", "happy", "sad", "angry", "fearful", "disgust"),
    "crema6": _identity("neutral", "happy", "sad", "angry", "fearful", "disgust"),
}


def _task_map(task: str) -> dict[str, str]:
    """The map of a task name, or of "TASK:class,class,...": that task kept to the listed classes
    (e.g. the classes corpora share, for cross-corpus tests)."""
    name, _, keep = task.partition(":")
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}")
    mapping = TASKS[name]
    if not keep:
        return mapping
    kept = [c.strip() for c in keep.split(",") if c.strip()]
    classes = [c for c in VOCABULARY if c in set(mapping.values())]
    unknown = [c for c in kept if c not in classes]
    if unknown or len(set(kept)) < 2:
        not_classes = f" (not: {', '.join(unknown)})" if unknown else ""
        raise ValueError(f"task {task!r}: keep two or more of the classes of {name}: "
                         f"{', '.join(classes)}{not_classes}")
    return {label: c for label, c in mapping.items() if c in kept}


def task_classes(task: str) -> tuple[str, ...]:
    """Class names of `task` in VOCABULARY order: index i is the model's output i."""
    classes = set(_task_map(task).values())
    return tuple(name for name in VOCABULARY if name in classes)


def apply_task(utterances: list[Utterance], task: str) -> list[Utterance]:
    """Utterances whose label the task keeps, relabelled with their task class."""
    mapping = _task_map(task)
    left_out = collections.Counter(u.label for u in utterances if u.label not in mapping)
    if left_out:
        log.info("task %s leaves out %s", task,
                 ", ".join(f"{n} {label}" for label, n in sorted(left_out.items())))
    return [dataclasses.replace(u, label=mapping[u.label]) for u in utterances
            if u.label in mapping]
