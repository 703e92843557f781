"""A data set spec as every domain reads it: a field of it, its display name, whether two specs name the same data.

A spec is a ``selfsup.specs.DatasetSpec`` or its JSON dict (what the data cache's actor gets): anything with
``source``, ``name``, ``path`` and ``options``.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["describe", "same_dataset", "spec_field"]


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
