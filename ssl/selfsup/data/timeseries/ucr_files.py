"""Local UCR/UEA archive files: ``<path>/<name>_TRAIN.ts`` and ``<path>/<name>_TEST.ts`` (aeon's reader)."""

from __future__ import annotations

from pathlib import Path

from selfsup.data.errors import DataError
from selfsup.data.timeseries.aeon_sets import as_series_list
from selfsup.data.timeseries.series import SeriesSet, encode_labels


def _read_ts(file: Path):
    """(X, y) of one labelled ``.ts`` file; DataError naming the file when it is missing, empty or unlabelled."""
    from aeon.datasets import load_from_ts_file

    if not file.is_file():
        raise DataError(f"missing UCR/UEA file {file}")
    try:
        X, y = load_from_ts_file(str(file))
    except Exception as error:
        raise DataError(f"cannot read {file}: {' '.join(str(error).split())}") from None
    if len(X) == 0:
        raise DataError(f"{file} holds no series (is it a .ts file?)")
    if y is None or len(y) != len(X):
        raise DataError(f"{file} has no class labels (its header needs '@classLabel true ...')")
    return X, y


def load_ucr_files(name: str | None, path: str | None, *, train_only: bool = False) -> dict[str, SeriesSet]:
    """Train and test splits from ``<path>/<name>_TRAIN.ts`` and ``_TEST.ts``, labels shared across splits."""
    if not name or not path:
        raise DataError(f"source 'ucr_files' needs a name and a path (got name={name!r}, path={path!r})")
    root = Path(path).expanduser()
    splits = ("train",) if train_only else ("train", "test")
    loaded = {split: _read_ts(root / f"{name}_{split.upper()}.ts") for split in splits}
    encoded, class_names = encode_labels(*(y for _, y in loaded.values()))
    return {
        split: SeriesSet(as_series_list(X), labels, class_names)
        for (split, (X, _)), labels in zip(loaded.items(), encoded)
    }
