"""Data sources by name: the ``source`` of a data set spec picks one loader from ``DATA_SOURCES``.

A loader is ``loader(name, path, *, train_only=False) -> {"train", "test"[, "validation"]: SeriesSet}``
with one class mapping shared by its splits. A new source is one module with such a function plus one
line here.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from selfsup.data.aeon_sets import bundled_aeon_datasets, load_aeon
from selfsup.data.csv_logs import load_csv_logs
from selfsup.data.errors import DataError
from selfsup.data.series import SeriesSet
from selfsup.data.ucr_files import load_ucr_files

__all__ = ["DATA_SOURCES", "bundled_aeon_datasets", "describe", "load_splits", "same_dataset", "spec_field"]

DATA_SOURCES: dict[str, Callable[..., dict[str, SeriesSet]]] = {
    "aeon": load_aeon,
    "ucr_files": load_ucr_files,
    "csv": load_csv_logs,
}


def spec_field(spec: Any, key: str):
    """``spec[key]`` for a dict, ``spec.key`` for anything else (a pydantic model, a namespace); None if absent."""
    return spec.get(key) if isinstance(spec, dict) else getattr(spec, key, None)


def _spec_key(spec: Any) -> tuple:
    path = spec_field(spec, "path")
    path = os.path.abspath(os.path.expanduser(str(path))) if path else None
    options = sorted((spec_field(spec, "options") or {}).items())
    return spec_field(spec, "source"), spec_field(spec, "name"), path, repr(options)


def same_dataset(a: Any, b: Any) -> bool:
    """True when two specs name the same data (same source, name, path and options, e.g. one generator's
    arguments)."""
    return _spec_key(a) == _spec_key(b)


def describe(spec: Any) -> str:
    """A short display name for messages: ``aeon:BasicMotions``, ``csv:/data/har``; the source alone for one that
    needs neither name nor path (``digits``, ``synthetic_seismic``)."""
    where = spec_field(spec, "name") or spec_field(spec, "path")
    return f"{spec_field(spec, 'source')}:{where}" if where else str(spec_field(spec, "source"))


def load_splits(
    source: Any, name: str | None = None, path: str | None = None, *, train_only: bool = False
) -> dict[str, SeriesSet]:
    """Load a data set: ``load_splits("aeon", "BasicMotions")`` or ``load_splits(spec)``.

    ``source`` is a source name, or a whole spec (any object or dict with ``source``, ``name``, ``path``).
    Returns ``{"train", "test"}`` and, when the data has one, ``"validation"``; with ``train_only``, only
    ``"train"``.
    """
    if not isinstance(source, str):
        source, name, path = (spec_field(source, key) for key in ("source", "name", "path"))
    if source not in DATA_SOURCES:
        raise DataError(f"unknown data source '{source}'; known: {', '.join(DATA_SOURCES)}")
    return DATA_SOURCES[source](name, path, train_only=train_only)
