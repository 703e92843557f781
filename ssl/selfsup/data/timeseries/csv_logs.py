"""Wearable-sensor logs as CSV files (``source: csv``).

Format
------
``path`` is a directory holding ``train.csv``, ``test.csv`` and optionally ``validation.csv`` (without it,
a validation split is carved from the training recordings). Each file has a header row and one row per
time step, in time order:

- channel columns: every column except ``label``, ``session`` and ``subject`` (any names, numeric values;
  empty cells are missing values, filled forward then backward later with a warning). Every file must have
  the same channel columns. Write the files without an index column, or it becomes a channel too.
- ``label``: the activity (any text or number) of that time step; required, never empty.
- ``session`` and/or ``subject`` (optional): which recording or person the row comes from.

Consecutive rows with the same label (and the same session/subject) form one series, a *segment*: a new
segment starts whenever the label or the session/subject changes. Windows are cut inside segments, so a
window never mixes two activities or two sessions. Classes are the sorted labels of the training file, so a
class has the same index in every split; a label of ``validation.csv`` or ``test.csv`` that ``train.csv`` never
has is an error (nothing could learn it, and test accuracy would be capped below 1), as a test class folder
unknown to training is for image folders. Example::

    acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z,label,session
    0.12,-9.71,0.33,0.01,0.00,-0.02,walking,1
    0.15,-9.69,,0.02,0.01,-0.02,walking,1
    0.02,-9.80,0.10,0.00,0.00,0.00,sitting,1
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from selfsup.data.errors import DataError
from selfsup.data.timeseries.series import SeriesSet, encode_labels

if TYPE_CHECKING:
    import pandas as pd

LABEL = "label"
GROUP_COLUMNS = ("session", "subject")  # the first one present is the series' group id


def _read(file: Path, channels: Sequence[str] | None) -> tuple[pd.DataFrame, list[str]]:
    """One CSV file and its channel columns, checked: file present, ``label`` present and complete, numbers."""
    import pandas as pd  # here, not at the top: the time-series domain imports this module's loader

    if not file.is_file():
        raise DataError(f"missing sensor-log file {file}")
    try:
        frame = pd.read_csv(file)
    except Exception as error:
        raise DataError(f"cannot read {file}: {' '.join(str(error).split())}") from None
    if LABEL not in frame.columns:
        raise DataError(f"{file} has no '{LABEL}' column (columns: {', '.join(map(str, frame.columns))})")
    if frame.empty:
        raise DataError(f"{file} has no rows")
    unlabelled = int(frame[LABEL].isna().sum())
    if unlabelled:
        raise DataError(f"{file}: {unlabelled} rows have an empty '{LABEL}'")
    if channels is None:
        channels = [c for c in frame.columns if c != LABEL and c not in GROUP_COLUMNS]
    absent = [c for c in channels if c not in frame.columns]
    if absent:
        raise DataError(f"{file} has no channel column(s) {', '.join(map(str, absent))}")
    if not channels:
        raise DataError(f"{file} has no channel columns besides '{LABEL}' and {'/'.join(GROUP_COLUMNS)}")
    not_numeric = [c for c in channels if not pd.api.types.is_numeric_dtype(frame[c])]
    if not_numeric:
        raise DataError(f"{file}: channel column(s) {', '.join(map(str, not_numeric))} are not numeric")
    return frame, list(channels)


def _segments(frame: pd.DataFrame, channels: list[str]) -> tuple[list[np.ndarray], list[str], list[str] | None]:
    """Split rows into segments at every change of label or session/subject.

    Returns (series as float32 (channels, length), label string per segment, group string per segment or
    None when the file has no session/subject column).
    """
    labels = frame[LABEL].astype(str)
    present = [c for c in GROUP_COLUMNS if c in frame.columns]
    keys = [labels] + [frame[c].astype(str) for c in present]  # str: an empty session is one value, "nan"
    starts_new = np.zeros(len(frame), dtype=bool)
    starts_new[0] = True
    for key in keys:
        values = key.to_numpy()
        starts_new[1:] |= values[1:] != values[:-1]
    starts = np.flatnonzero(starts_new)
    values = frame[channels].to_numpy(dtype=np.float32)
    series = [np.ascontiguousarray(part.T) for part in np.split(values, starts[1:])]
    segment_labels = labels.iloc[starts].tolist()
    groups = frame[present[0]].astype(str).iloc[starts].tolist() if present else None
    return series, segment_labels, groups


def _label_values(file: Path) -> set[str]:
    """The distinct labels of one file, read from its ``label`` column alone (empty when the column is missing
    or the file unreadable: a full load names that problem)."""
    import pandas as pd

    try:
        return set(pd.read_csv(file, usecols=[LABEL])[LABEL].dropna().astype(str))
    except Exception:  # noqa: BLE001 - reported by the full load, with the file's other checks
        return set()


def _check_classes_are_trained(labels: dict[Path, set[str]], train_file: Path, trained: set[str]) -> None:
    for file, found in labels.items():
        unknown = sorted(found - trained)
        if unknown:
            raise DataError(
                f"{file}: label(s) {', '.join(unknown)} are not among the training classes of "
                f"{train_file} ({', '.join(sorted(trained))}); every class needs training rows"
            )


def load_csv_logs(
    name: str | None, path: str | None, *, train_only: bool = False, channels: Sequence[str] | None = None
) -> dict[str, SeriesSet]:
    """Splits of the sensor-log directory ``path`` (``name`` is only a display name; see module docstring).

    ``channels`` picks the channel columns explicitly (default: every column but label/session/subject).
    """
    if not path:
        raise DataError("source 'csv' needs a path (a directory with train.csv and test.csv)")
    root = Path(path).expanduser()
    files = {"train": root / "train.csv"}
    if not train_only:
        files["test"] = root / "test.csv"
        if (root / "validation.csv").is_file():
            files["validation"] = root / "validation.csv"

    parsed, first_channels = {}, None
    for split, file in files.items():
        frame, columns = _read(file, channels)
        if first_channels is None:
            first_channels = columns
        elif columns != first_channels:
            raise DataError(f"{file} has channel columns {columns} but {files['train']} has {first_channels}")
        parsed[split] = _segments(frame, columns)

    # Classes come from train.csv. With ``train_only`` (a sweep's check before it starts) the other files' labels
    # are read too, so a class the training file lacks is refused there, not in a trial.
    others = {file: set(parsed[split][1]) for split, file in files.items() if split != "train"}
    if train_only:
        others = {file: _label_values(file) for file in (root / "validation.csv", root / "test.csv") if file.is_file()}
    _check_classes_are_trained(others, files["train"], set(parsed["train"][1]))
    encoded_labels, class_names = encode_labels(*(labels for _, labels, _ in parsed.values()))
    has_groups = all(groups is not None for _, _, groups in parsed.values())
    encoded_groups = (
        encode_labels(*(groups for _, _, groups in parsed.values()))[0] if has_groups else [None] * len(parsed)
    )
    return {
        split: SeriesSet(series, labels, class_names, groups)
        for (split, (series, _, _)), labels, groups in zip(parsed.items(), encoded_labels, encoded_groups)
    }
