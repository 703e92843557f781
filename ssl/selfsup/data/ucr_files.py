"""Local UCR/UEA archive files: ``<path>/<name>_TRAIN.ts`` and ``<path>/<name>_TEST.ts``."""
from __future__ import annotations

from pathlib import Path

from selfsup.data.aeon_sets import _as_series_list
from selfsup.data.errors import DataError
from selfsup.data.series import SeriesSet, encode_labels


def load_ucr_files(name: str, path: str) -> dict[str, SeriesSet]:
    from aeon.datasets import load_from_ts_file

    loaded = {}
    for split in ("train", "test"):
        file = Path(path).expanduser() / f"{name}_{split.upper()}.ts"
        if not file.is_file():
            raise DataError(f"missing UCR/UEA file {file}")
        try:
            loaded[split] = load_from_ts_file(str(file))
        except Exception as error:
            raise DataError(f"cannot read {file}: {error}") from None
    (train_labels, test_labels), class_names = encode_labels(loaded["train"][1], loaded["test"][1])
    return {"train": SeriesSet(_as_series_list(loaded["train"][0]), train_labels, class_names),
            "test": SeriesSet(_as_series_list(loaded["test"][0]), test_labels, class_names)}
