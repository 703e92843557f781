"""A data source as a domain's table names it: what its spec needs and the function that loads it.

Each domain's table lives in its data folder (``timeseries/sources.py``, ``images/sources.py``,
``seismic/sources.py``) and is the domain's ``sources``: the one place a source is named.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from pydantic import BaseModel

from selfsup.data.dataset_specs import spec_field


@dataclass(frozen=True)
class DataSource:
    """One data source of a domain, the one place it is defined: what its ``DatasetSpec`` needs (a ``name``, e.g.
    an aeon set; a ``path``, a directory or file, and what a missing one should be told; ``options``) and the
    function that loads it.

    ``loader(name, path, *, train_only=False, **options)`` gets the spec's name and path (None where absent) and
    its options validated by ``options`` (with their defaults) as keywords, and returns the splits of its domain:
    ``{"train", "test"[, "validation"]}`` of ``SeriesSet`` (time series) or ``ImageSet`` (images) with one class
    mapping across them, ``{"volume"[, "test"]}`` of ``SeismicVolume`` (seismic: the volume whose inline blocks
    are split, and a test volume of its own); ``train_only`` loads only the training split (seismic: the volume).
    A loader that needs a heavy library (aeon, torchvision, scipy) imports it when called, so that importing the
    domain stays cheap."""

    loader: Callable[..., dict[str, Any]]
    needs_name: bool = False
    needs_path: bool = False
    path_hint: str = "a directory"
    options: type[BaseModel] | None = None  # the model that validates the spec's ``options``, if it takes any
    # The names it can load where they are known without reading anything (aeon's bundled sets), else None.
    known_names: Callable[[], Sequence[str]] | None = None
    # Its class names where they are known without reading any data (``class_names(**options)``: the synthetic
    # seismic generator's ``n_facies``, F3's six units), else None.
    class_names: Callable[..., list[str]] | None = None
    labelled: bool = True  # False: the data has no labels, so it can only be pretext data
    # Shipped with the installed packages, or made from the spec alone: a dry run checks its sizes too.
    bundled: bool = False
    # The shape of what it loads where its options alone give it (``shape(**options)``: the synthetic seismic
    # generator's volume), else None.
    shape: Callable[..., tuple[int, ...]] | None = None

    def option_values(self, spec: Any) -> dict[str, Any]:
        """The spec's ``options`` validated by this source's model, defaults filled in ({} for a source without
        options)."""
        return self.options(**(spec_field(spec, "options") or {})).model_dump() if self.options else {}

    def load(self, spec: Any, *, train_only: bool = False) -> dict[str, Any]:
        """The splits of ``spec`` (a ``DatasetSpec`` or its JSON dict) as ``loader`` returns them."""
        name, path = spec_field(spec, "name"), spec_field(spec, "path")
        return self.loader(name, path, train_only=train_only, **self.option_values(spec))

    def known_shape(self, spec: Any) -> tuple[int, ...] | None:
        """The shape of what ``spec`` loads known without reading any data, else None."""
        return None if self.shape is None else self.shape(**self.option_values(spec))

    def known_class_names(self, spec: Any) -> list[str] | None:
        """The class names of ``spec`` known without reading any data, else None."""
        return None if self.class_names is None else self.class_names(**self.option_values(spec))
