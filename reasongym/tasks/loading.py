"""Reading benchmark records from local files or the Hugging Face hub.

Resolution order for a benchmark (first match wins):

1. ``data_files=`` given to the environment (a path or list of paths: ``.jsonl``, ``.json``, ``.parquet``);
2. ``$REASONGYM_DATA_DIR/<file name>`` for one of the benchmark's known local file names;
3. the benchmark's Hugging Face dataset, loaded with :func:`datasets.load_dataset` (cached by ``datasets``
   under ``$HF_HOME``).

Local files are read directly (JSON lines, a JSON list, or Parquet through pyarrow): that takes
milliseconds, where routing them through ``datasets`` would build an Arrow cache on first use.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

DATA_DIR_ENV = "REASONGYM_DATA_DIR"


class DataUnavailableError(RuntimeError):
    """A benchmark's data could be found neither locally nor on the hub."""


@dataclass(frozen=True)
class HubDataset:
    """Where a benchmark lives on the Hugging Face hub."""

    path: str
    split: str
    name: str | None = None

    def __str__(self) -> str:
        config = f"/{self.name}" if self.name else ""
        return f"hub:{self.path}{config} ({self.split})"


def read_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read one local file of records; raise ``ValueError`` naming the file and line on bad content."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    if suffix not in (".jsonl", ".json"):
        raise ValueError(f"unsupported data file type {suffix!r} for {path}: use .jsonl, .json or .parquet")
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: invalid JSON list: {exc}") from None
    else:
        records = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: invalid JSON line: {exc}") from None
    if not all(isinstance(r, dict) for r in records):
        raise ValueError(f"{path}: every record must be a JSON object")
    return records


def _as_paths(data_files: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    if isinstance(data_files, (str, os.PathLike)):
        return [Path(data_files)]
    return [Path(p) for p in data_files]


def _load_hub(hub: HubDataset) -> list[dict[str, Any]]:
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is a core dependency
        raise DataUnavailableError("the 'datasets' package is needed to load from the hub") from exc
    try:
        return list(datasets.load_dataset(hub.path, hub.name, split=hub.split))
    except Exception as exc:  # network errors, missing dataset, offline mode
        raise DataUnavailableError(
            f"could not load {hub}: {type(exc).__name__}: {exc}. Offline, pass data_files=... or set "
            f"${DATA_DIR_ENV} to a folder holding the benchmark's local file."
        ) from exc


def load_benchmark(*, data_files: str | os.PathLike | Sequence[str | os.PathLike] | None,
                   local_names: Iterable[str], hub: HubDataset | None) -> tuple[list[dict[str, Any]], str]:
    """Return ``(records, origin)`` following the resolution order in the module docstring."""
    if data_files is not None:
        paths = _as_paths(data_files)
        records = [r for p in paths for r in read_records(p)]
        return records, "local:" + ",".join(str(p) for p in paths)
    data_dir = os.environ.get(DATA_DIR_ENV)
    if data_dir:
        for name in local_names:
            candidate = Path(data_dir) / name
            if candidate.is_file():
                return read_records(candidate), f"local:{candidate}"
    if hub is None:
        raise DataUnavailableError(
            f"no data: pass data_files=... or put one of {list(local_names)} in ${DATA_DIR_ENV}")
    return _load_hub(hub), str(hub)
