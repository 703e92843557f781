"""Sensor logs as CSV files (the reference report's har.zip layout).

``<path>/train.csv``, ``<path>/test.csv`` and optionally ``<path>/validation.csv``. One row per time step:
numeric channel columns (any names), a ``label`` column, and optionally a ``session`` or ``subject`` column.
Consecutive rows with the same session and label form one recording (a series), so windows never mix
activities or sessions. Missing values are allowed (filled later, with a warning).

    acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z,label,session
    0.12,-9.71,0.33,0.01,0.00,-0.02,walking,1
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from selfsup.data.errors import DataError
from selfsup.data.series import SeriesSet, encode_labels

LABEL = "label"
GROUP_COLUMNS = ("session", "subject")


def _read(file: Path) -> pd.DataFrame:
    if not file.is_file():
        raise DataError(f"missing sensor-log file {file}")
    frame = pd.read_csv(file)
    if LABEL not in frame.columns:
        raise DataError(f"{file} has no '{LABEL}' column (columns: {', '.join(map(str, frame.columns))})")
    channels = [c for c in frame.columns if c != LABEL and c not in GROUP_COLUMNS]
    bad = [c for c in channels if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad or not channels:
        raise DataError(f"{file}: channel columns must be numeric; not numeric: {', '.join(map(str, bad))}"
                        if bad else f"{file} has no channel columns besides '{LABEL}'")
    return frame


def _segments(frame: pd.DataFrame) -> tuple[list[np.ndarray], list[str], np.ndarray]:
    group_column = next((c for c in GROUP_COLUMNS if c in frame.columns), None)
    channels = [c for c in frame.columns if c != LABEL and c not in GROUP_COLUMNS]
    keys = frame[LABEL].astype(str)
    groups = frame[group_column] if group_column else pd.Series(0, index=frame.index)
    boundary = (keys != keys.shift()) | (groups != groups.shift())
    segment_id = boundary.cumsum().to_numpy()
    values = frame[channels].to_numpy(dtype=np.float32)
    series, labels, segment_groups = [], [], []
    for segment in np.unique(segment_id):
        rows = np.flatnonzero(segment_id == segment)
        series.append(np.ascontiguousarray(values[rows].T))
        labels.append(keys.iloc[rows[0]])
        segment_groups.append(groups.iloc[rows[0]])
    codes, _ = pd.factorize(pd.Series(segment_groups).astype(str))
    return series, labels, codes.astype(np.int64)


def load_csv_logs(name: str | None, path: str) -> dict[str, SeriesSet]:
    root = Path(path).expanduser()
    files = {"train": root / "train.csv", "test": root / "test.csv"}
    if (root / "validation.csv").is_file():
        files["validation"] = root / "validation.csv"
    parsed = {split: _segments(_read(file)) for split, file in files.items()}
    widths = {split: series[0].shape[0] for split, (series, _, _) in parsed.items() if series}
    if len(set(widths.values())) > 1:
        raise DataError(f"{root}: the CSV files have different channel counts {widths}")
    encoded, class_names = encode_labels(*(labels for _, labels, _ in parsed.values()))
    return {split: SeriesSet(series, codes, class_names, groups)
            for (split, (series, _, groups)), codes in zip(parsed.items(), encoded)}
