"""Classification data sets bundled inside aeon (UCR/UEA archive members), loaded by name, offline."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from selfsup.data.errors import DataError
from selfsup.data.series import SeriesSet, encode_labels


def _bundled_dir() -> Path:
    import aeon.datasets

    return Path(aeon.datasets.__file__).parent / "data"


@lru_cache(maxsize=1)
def bundled_aeon_datasets() -> tuple[str, ...]:
    """Names of the sets aeon ships with train and test files (no download needed)."""
    root = _bundled_dir()
    return tuple(sorted(d.name for d in root.iterdir()
                        if (d / f"{d.name}_TRAIN.ts").is_file() and (d / f"{d.name}_TEST.ts").is_file()))


def _as_series_list(X) -> list[np.ndarray]:
    """aeon returns a 3-D array for equal-length sets and a list of 2-D arrays otherwise."""
    return [np.asarray(x, dtype=np.float32).reshape(-1, np.shape(x)[-1]) for x in X]


def load_aeon(name: str, path: str | None = None) -> dict[str, SeriesSet]:
    if name not in bundled_aeon_datasets():
        # Checked first: aeon would otherwise try to download an unknown name.
        raise DataError(f"aeon has no bundled data set '{name}'; bundled: {', '.join(bundled_aeon_datasets())}")
    from aeon.datasets import load_classification

    try:
        X_train, y_train = load_classification(name, split="train", extract_path=str(_bundled_dir()))
        X_test, y_test = load_classification(name, split="test", extract_path=str(_bundled_dir()))
    except Exception as error:  # a bundled regression/forecasting set, a corrupt file
        raise DataError(f"aeon data set '{name}' cannot be loaded for classification: {error}") from None
    (train_labels, test_labels), class_names = encode_labels(y_train, y_test)
    return {"train": SeriesSet(_as_series_list(X_train), train_labels, class_names),
            "test": SeriesSet(_as_series_list(X_test), test_labels, class_names)}
