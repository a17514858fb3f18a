"""Which files are one speaker's, for models that adapt to the speaker (jax_ser.predict
--speakers): `folder` (each folder one speaker), `one` (all files), `file` (each file alone), or
a CSV of path,speaker (paths relative to the CSV)."""

from __future__ import annotations

import csv
import os

WAYS = ("folder", "one", "file")


def group(paths: list[str], how: str) -> dict[str, list[str]]:
    """{speaker: their files} in the order the files were given."""
    if how == "one":
        return {"all": list(paths)} if paths else {}
    if how in ("file", "folder"):
        key = os.path.abspath if how == "file" else lambda p: os.path.dirname(os.path.abspath(p))
        groups: dict[str, list[str]] = {}
        for path in paths:
            groups.setdefault(key(path), []).append(path)
        return groups
    if not how.lower().endswith(".csv"):
        raise ValueError(f"--speakers={how!r}: give one of {', '.join(WAYS)} or a CSV file of "
                         "path,speaker")
    speakers = read_csv(how)
    missing = [p for p in paths if os.path.abspath(p) not in speakers]
    if missing:
        raise ValueError(f"{len(missing)} files are not in {how}, e.g. {missing[0]}")
    groups = {}
    for path in paths:
        groups.setdefault(speakers[os.path.abspath(path)], []).append(path)
    return groups


def read_csv(path: str) -> dict[str, str]:
    """{absolute path: speaker} from a CSV of path,speaker rows (a header row is optional)."""
    if not os.path.isfile(path):
        raise ValueError(f"--speakers: no such file {path}")
    root = os.path.dirname(os.path.abspath(path))
    speakers = {}
    with open(path, newline="") as f:
        for number, row in enumerate(csv.reader(f), 1):
            header = number == 1 and [c.strip().lower() for c in row[:2]] == ["path", "speaker"]
            if not row or header:
                continue
            if len(row) < 2 or not row[0].strip() or not row[1].strip():
                raise ValueError(f"{path}, line {number}: expected path,speaker, got {row}")
            speakers[os.path.normpath(os.path.join(root, row[0].strip()))] = row[1].strip()
    return speakers
