"""Data sources by name: ``source`` in a search-space file picks one of these loaders."""
from __future__ import annotations

from typing import Any, Callable

from selfsup.data.aeon_sets import load_aeon
from selfsup.data.csv_logs import load_csv_logs
from selfsup.data.series import SeriesSet
from selfsup.data.ucr_files import load_ucr_files

# (name, path) -> {"train": ..., "test": ..., optionally "validation": ...}
DATA_SOURCES: dict[str, Callable[[Any, Any], dict[str, SeriesSet]]] = {
    "aeon": load_aeon,
    "ucr_files": load_ucr_files,
    "csv": load_csv_logs,
}


def _field(spec, key: str):
    return spec.get(key) if isinstance(spec, dict) else getattr(spec, key, None)


def describe(spec) -> str:
    return f"{_field(spec, 'source')}:{_field(spec, 'name') or _field(spec, 'path')}"


def load_splits(spec) -> dict[str, SeriesSet]:
    """Load a data set described by any object (or dict) with ``source``, ``name`` and ``path``."""
    source = _field(spec, "source")
    if source not in DATA_SOURCES:
        raise ValueError(f"unknown data source '{source}'; known: {', '.join(DATA_SOURCES)}")
    return DATA_SOURCES[source](_field(spec, "name"), _field(spec, "path"))
