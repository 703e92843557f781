"""Classification data sets bundled inside aeon (UCR/UEA archive members), loaded by name and offline.

aeon 1.6 counts a set as bundled when ``aeon/datasets/data/<name>/`` holds ``<name>_TRAIN.ts`` and
``<name>_TEST.ts`` (``get_downloaded_tsc_tsr_datasets``); for any other name ``load_classification``
downloads from Zenodo. We check the bundled list first, so an unknown name fails at once instead of hanging
on a download. Only classification sets count (the ``.ts`` header says ``@classLabel true``; regression
sets such as Covid3Month are left out).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from selfsup.data.errors import DataError
from selfsup.data.timeseries.series import SeriesSet, encode_labels


def _bundled_dir() -> Path:
    import aeon.datasets

    return Path(aeon.datasets.__file__).parent / "data"


def _is_classification_file(file: Path) -> bool:
    """True when the ``.ts`` header declares class labels (read up to ``@data``, not the series)."""
    with file.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            words = line.strip().lower().split()
            if words[:1] == ["@classlabel"]:
                return words[1:2] == ["true"]
            if words[:1] == ["@data"]:
                return False
    return False


@lru_cache(maxsize=1)
def _bundled_names() -> tuple[str, ...]:
    root = _bundled_dir()
    if not root.is_dir():
        return ()
    names = []
    for folder in root.iterdir():
        train, test = folder / f"{folder.name}_TRAIN.ts", folder / f"{folder.name}_TEST.ts"
        if train.is_file() and test.is_file() and _is_classification_file(train):
            names.append(folder.name)
    return tuple(sorted(names))


def bundled_aeon_datasets() -> list[str]:
    """Names of the classification sets aeon ships with train and test files (no download needed)."""
    return list(_bundled_names())


def as_series_list(X) -> list[np.ndarray]:
    """aeon's 3-D array (equal length) or list of 2-D arrays (unequal length) -> list of float32 (C, T)."""
    return [np.ascontiguousarray(np.asarray(x, dtype=np.float32).reshape(-1, np.shape(x)[-1])) for x in X]


def load_aeon(name: str | None, path: str | None = None, *, train_only: bool = False) -> dict[str, SeriesSet]:
    """Train and test splits of the bundled set ``name`` (``path`` is unused), labels shared across splits.

    ``train_only`` loads just the training split (for cheap checks such as the channel count); its class
    mapping then covers only the training labels.
    """
    if name not in _bundled_names():
        # Checked first: aeon would otherwise try to download an unknown name.
        raise DataError(f"aeon has no bundled data set '{name}'; bundled: {', '.join(_bundled_names())}")
    from aeon.datasets import load_classification

    splits = ("train",) if train_only else ("train", "test")
    loaded = {}
    for split in splits:
        try:
            loaded[split] = load_classification(name, split=split, extract_path=str(_bundled_dir()))
        except Exception as error:  # a corrupt file: report it as a data problem, on one line
            message = " ".join(str(error).split())
            raise DataError(f"aeon data set '{name}' ({split}) cannot be loaded: {message}") from None
    encoded, class_names = encode_labels(*(y for _, y in loaded.values()))
    return {
        split: SeriesSet(as_series_list(X), labels, class_names)
        for (split, (X, _)), labels in zip(loaded.items(), encoded)
    }
