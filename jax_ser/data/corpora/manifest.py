"""`data.corpus=manifest`: your own data, listed in a file, or EmoBox's published fold lists.

`data.root` is one of:
- a `.csv` (header row) or `.jsonl` (one object a line) manifest with `path`, `label`, `speaker`
  and optionally `gender`, `corpus` (default "manifest") and `fold` (for `data.split=manifest`).
  Relative paths resolve against the manifest's folder, so a manifest moves with its audio.
- an EmoBox corpus folder, `EmoBox/data/<corpus>` (github.com/emo-box/EmoBox). Its fold lists,
  `fold_K/<corpus>_{train,valid,test}_fold_K.jsonl`, have no speaker: it is read from the
  folder's `data.seg.wrd.stm`. An utterance's fold is the K of the test list naming it. Labels go
  through the folder's `label_map.json`, as EmoBox's own loader maps them. `wav` paths resolve
  against the EmoBox checkout (the folder two up), where EmoBox's README puts the audio:
  `downloads/<corpus>/...`.

Labels are harmonised to `labels.VOCABULARY` through common spellings (ang, anger, hap, joy, ...).
Like the corpus readers, which skip files they cannot parse, a row with an unknown label or a
missing audio file is skipped, and the skipped rows are reported with their lines. A manifest that
cannot be read as a whole (a missing column, a file listed twice, no usable row) is a DataError.
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import json
import logging
import os
import re
from collections import defaultdict
from collections.abc import Iterator

from jax_ser.data.corpora import Utterance
from jax_ser.data.labels import VOCABULARY
from jax_ser.errors import DataError

log = logging.getLogger(__name__)

REQUIRED = ("path", "label", "speaker")
OPTIONAL = ("gender", "corpus", "fold")
DEFAULT_CORPUS = "manifest"
# lower-case spelling -> VOCABULARY name; every VOCABULARY name also spells itself.
SPELLINGS = {
    **{name: name for name in VOCABULARY},
    "neu": "neutral", "neutrality": "neutral",
    "cal": "calm",
    "hap": "happy", "happiness": "happy", "joy": "happy",
    "sadness": "sad",
    "ang": "angry", "anger": "angry",
    "fea": "fearful", "fear": "fearful",
    "dis": "disgust", "disgusted": "disgust",
    "sur": "surprised", "surprise": "surprised",
    "bor": "boredom", "bored": "boredom",
    "exc": "excited", "excitement": "excited",
    "fru": "frustrated", "frustration": "frustrated",
    "oth": "other",
}
GENDERS = {"f": "female", "female": "female", "m": "male", "male": "male"}
EMOBOX_KEYS = ("key", "dataset", "wav", "emo")
_EMOBOX_LIST = re.compile(r".+_(train|valid|test)_fold_(\d+)\.jsonl")


@dataclasses.dataclass(frozen=True)
class Row:
    """One listed utterance as written; `where` ("file:line") names it in messages."""

    where: str
    path: str
    label: str
    speaker: str
    gender: str | None = None
    corpus: str | None = None
    fold: str | None = None


def read(root: str) -> list[Utterance]:
    if not root or not os.path.exists(root):
        raise FileNotFoundError(f"manifest not found: {root!r}")
    if os.path.isdir(root):
        emobox_root = os.path.dirname(os.path.dirname(os.path.abspath(root)))
        return to_utterances(emobox_rows(root), emobox_root, root)
    readers = {".csv": csv_rows, ".jsonl": jsonl_rows}
    extension = os.path.splitext(root)[1].lower()
    if extension not in readers:
        raise DataError(f"manifest {root}: give a .csv or .jsonl file, or an EmoBox corpus folder "
                        "(EmoBox/data/<corpus>)")
    return to_utterances(readers[extension](root), os.path.dirname(os.path.abspath(root)), root)


def csv_rows(path: str) -> list[Row]:
    # utf-8-sig: spreadsheets save CSV with a byte-order mark that would rename the first column.
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        reader.fieldnames = [name.strip().lower() for name in reader.fieldnames or []]
        missing = [c for c in REQUIRED if c not in reader.fieldnames]
        if missing:
            raise DataError(
                f"manifest {path}: no column {', '.join(missing)} (its header: "
                f"{', '.join(reader.fieldnames) or 'none'}); columns: {', '.join(REQUIRED)}, "
                f"optionally {', '.join(OPTIONAL)}"
            )
        return [_row(f"{path}:{reader.line_num}", record) for record in reader]


def jsonl_rows(path: str) -> list[Row]:
    rows = []
    for where, record in _json_lines(path):
        record = {str(key).strip().lower(): value for key, value in record.items()}
        missing = [k for k in REQUIRED if k not in record]
        if missing:
            hint = ("; it looks like an EmoBox fold list: set data.root to its corpus folder, "
                    "EmoBox/data/<corpus>" if {"wav", "emo"} <= set(record) else "")
            raise DataError(f"{where}: no {', '.join(missing)} key (keys: {', '.join(REQUIRED)}, "
                            f"optionally {', '.join(OPTIONAL)}){hint}")
        rows.append(_row(where, record))
    return rows


def emobox_rows(folder: str) -> list[Row]:
    """Every utterance an EmoBox corpus folder's fold lists name, with the fold of its test list."""
    lists = sorted(p for p in glob.glob(os.path.join(folder, "fold_*", "*.jsonl"))
                   if _EMOBOX_LIST.fullmatch(os.path.basename(p)))
    if not lists:
        raise DataError(f"{folder} is neither a manifest file nor an EmoBox corpus folder (no "
                        "fold_K/<corpus>_test_fold_K.jsonl in it)")
    speakers = _stm_speakers(folder)
    label_map = _label_map(folder)
    records, test_list = {}, {}
    for path in lists:
        part, fold = _EMOBOX_LIST.fullmatch(os.path.basename(path)).groups()
        for where, record in _json_lines(path):
            missing = [k for k in EMOBOX_KEYS if k not in record]
            if missing:
                raise DataError(f"{where}: no {', '.join(missing)} key, which EmoBox lists have")
            key = record["key"]
            if part == "test":
                if key in test_list:
                    raise DataError(f"{where}: {key} is in the test list of fold "
                                    f"{test_list[key][0]} already ({test_list[key][1]})")
                test_list[key] = fold, where
            if part == "test" or key not in records:
                records[key] = where, record
    rows, unknown_speaker = [], []
    for key, (where, record) in records.items():
        if key not in speakers:
            unknown_speaker.append(where)
            continue
        emotion = str(record["emo"])
        fold = test_list[key][0] if key in test_list else None  # else: always in training
        rows.append(Row(where, record["wav"], label_map.get(emotion, emotion), speakers[key],
                        corpus=record["dataset"], fold=fold))
    if unknown_speaker:
        log.warning("%s: skipping %d utterance(s) that data.seg.wrd.stm gives no speaker: %s",
                    folder, len(unknown_speaker), _first(unknown_speaker))
    return rows


def to_utterances(rows: list[Row], base: str, source: str) -> list[Utterance]:
    """Rows with their paths resolved against `base` and labels harmonised; rows with an unknown
    label or a missing file skipped and reported, a file listed twice refused."""
    utterances, listed = [], {}
    unknown, missing = defaultdict(list), []
    for row in rows:
        path = os.path.abspath(os.path.join(base, row.path))
        if path in listed:
            raise DataError(f"{row.where}: {path} is listed twice (also on {listed[path]})")
        listed[path] = row.where
        label = SPELLINGS.get(row.label.lower())
        if label is None:
            unknown[row.label].append(row.where)
        elif not os.path.isfile(path):
            missing.append(f"{row.where}: {path}")
        else:
            gender = GENDERS.get(row.gender.lower(), row.gender.lower()) if row.gender else None
            utterances.append(Utterance(path, label, row.speaker, row.corpus or DEFAULT_CORPUS,
                                        gender, fold=row.fold))
    for label, wheres in sorted(unknown.items(), key=lambda item: -len(item[1])):
        log.warning("%s: skipping %d row(s) labelled %r, not an emotion of jax_ser's vocabulary "
                    "(%s): %s", source, len(wheres), label, ", ".join(VOCABULARY), _first(wheres))
    if missing:
        log.warning("%s: skipping %d row(s) whose audio file does not exist (relative paths "
                    "resolve against %s): %s", source, len(missing), base, _first(missing))
    if not utterances:
        raise DataError(
            f"manifest {source}: no usable utterance among {len(rows)} row(s) "
            f"({sum(map(len, unknown.values()))} with an unknown label, {len(missing)} with a "
            f"missing audio file; relative paths resolve against {base})"
        )
    return utterances


def _row(where: str, record: dict) -> Row:
    values = {k: str(record[k]).strip() for k in REQUIRED + OPTIONAL if record.get(k) is not None}
    empty = [k for k in REQUIRED if not values.get(k)]
    if empty:
        raise DataError(f"{where}: empty {', '.join(empty)}")
    return Row(where, **{k: values.get(k) or None for k in REQUIRED + OPTIONAL})


def _json_lines(path: str) -> Iterator[tuple[str, dict]]:
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{number}: not JSON ({e})") from None
            if not isinstance(record, dict):
                raise DataError(f"{path}:{number}: not a JSON object")
            yield f"{path}:{number}", record


def _stm_speakers(folder: str) -> dict[str, str]:
    """Utterance key -> speaker, from EmoBox's `<key> <channel> <speaker> <start> <end> ...`."""
    path = os.path.join(folder, "data.seg.wrd.stm")
    if not os.path.isfile(path):
        raise DataError(f"{folder}: no data.seg.wrd.stm, where EmoBox gives each utterance's "
                        "speaker (its fold lists have none)")
    with open(path, encoding="utf-8") as f:
        return {fields[0]: fields[2] for fields in map(str.split, f) if len(fields) > 2}


def _label_map(folder: str) -> dict[str, str]:
    """EmoBox's map of the corpus's own label codes (SAVEE's sa, su) to emotion names; EMOVO's
    is named label_dict.json."""
    for name in ("label_map.json", "label_dict.json"):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                return json.load(f)
    return {}


def _first(items: list[str], count: int = 5) -> str:
    more = f" (and {len(items) - count} more)" if len(items) > count else ""
    return "; ".join(items[:count]) + more
