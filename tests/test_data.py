"""Data: aeon bundled sets, UCR/UEA files and CSV sensor logs written by the tests; cleaning, standardisation,
windows, validation carve-out and label-fraction subsets."""
from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import pytest

from selfsup.data import DataError, SeriesSet, dataset_channels, load_splits, prepare_data, sliding_windows
from selfsup.data.aeon_sets import bundled_aeon_datasets
from selfsup.data.cleaning import ChannelStandardizer, fill_missing
from selfsup.data.splits import carve_validation, label_fraction_indices
from selfsup.data.windows import window_starts

BASIC = {"source": "aeon", "name": "BasicMotions", "path": None}


def test_basicmotions_from_aeon():
    splits = load_splits(BASIC)
    train, test = splits["train"], splits["test"]
    assert (len(train), len(test), train.n_channels) == (40, 40, 6)
    assert {s.shape for s in train.series} == {(6, 100)}
    assert train.class_names == test.class_names == ["badminton", "running", "standing", "walking"]
    assert np.bincount(train.labels).tolist() == [10, 10, 10, 10]


@pytest.mark.parametrize("name", ["JapaneseVowels", "PickupGestureWiimoteZ"])
def test_unequal_length_sets_load_and_window(name):
    train = load_splits({"source": "aeon", "name": name})["train"]
    lengths = {s.shape[1] for s in train.series}
    assert len(lengths) > 1
    with pytest.warns(UserWarning, match="edge-padded"):
        windows = sliding_windows(train, max(lengths) + 1, 0.5, name)
    assert windows.x.shape == (len(train), train.n_channels, max(lengths) + 1)
    assert np.isfinite(windows.x).all()


def test_unknown_aeon_name_fails_fast_without_download():
    start = time.perf_counter()
    with pytest.raises(DataError, match="aeon has no bundled data set 'NoSuchSet'; bundled: .*BasicMotions"):
        load_splits({"source": "aeon", "name": "NoSuchSet"})
    assert time.perf_counter() - start < 5
    assert {"BasicMotions", "GunPoint", "JapaneseVowels"} <= set(bundled_aeon_datasets())


TS_HEADER = """@problemName Tiny
@timeStamps false
@missing false
@univariate false
@dimensions 2
@equalLength true
@seriesLength 8
@classLabel true a b
@data
"""


def _write_ts(path, rows):
    path.write_text(TS_HEADER + "\n".join(rows) + "\n")


def test_ucr_files_load_and_missing_file(tmp_path):
    row = lambda k, label: (",".join(str(k + i) for i in range(8)) + ":" + ",".join(str(-k - i) for i in range(8))
                            + f":{label}")
    _write_ts(tmp_path / "Tiny_TRAIN.ts", [row(1, "a"), row(2, "b"), row(3, "a")])
    _write_ts(tmp_path / "Tiny_TEST.ts", [row(4, "b")])
    splits = load_splits({"source": "ucr_files", "name": "Tiny", "path": str(tmp_path)})
    assert len(splits["train"]) == 3 and splits["train"].n_channels == 2
    assert splits["train"].labels.tolist() == [0, 1, 0] and splits["test"].labels.tolist() == [1]
    np.testing.assert_array_equal(splits["train"].series[0][1], -np.arange(1, 9))
    with pytest.raises(DataError, match=str(tmp_path / "Other_TRAIN.ts")):
        load_splits({"source": "ucr_files", "name": "Other", "path": str(tmp_path)})


def _log(rows_per_segment, segments, seed=0, nan_at=()):
    """segments: list of (label, session); returns a frame with 3 channels."""
    rng = np.random.default_rng(seed)
    frames = []
    for label, session in segments:
        frame = pd.DataFrame(rng.normal(size=(rows_per_segment, 3)), columns=["ax", "ay", "az"])
        frame["label"], frame["session"] = label, session
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    for row, column in nan_at:
        frame.loc[row, column] = np.nan
    return frame


def test_csv_segments_windows_and_missing_values(tmp_path):
    segments = [("walk", 1), ("walk", 1), ("sit", 1), ("sit", 2), ("walk", 2)]  # 1st and 2nd merge
    _log(20, segments, nan_at=[(0, "ax"), (1, "ax"), (45, "ay")]).to_csv(tmp_path / "train.csv", index=False)
    _log(20, [("sit", 3), ("walk", 3)], seed=1).to_csv(tmp_path / "test.csv", index=False)
    splits = load_splits({"source": "csv", "path": str(tmp_path)})
    train = splits["train"]
    assert [s.shape[1] for s in train.series] == [40, 20, 20, 20]
    assert train.class_names == ["sit", "walk"] and train.labels.tolist() == [1, 0, 0, 1]
    assert train.groups.tolist() == [0, 0, 1, 1]

    filled, count = fill_missing(train)
    assert count == 3
    assert filled.series[0][0, 0] == filled.series[0][0, 1] == filled.series[0][0, 2]  # backward fill
    assert filled.series[1][1, 5] == filled.series[1][1, 4]                            # forward fill
    with pytest.warns(UserWarning, match="filled 3 missing values forward then backward"):
        prepare_data({"source": "csv", "path": str(tmp_path)}, {"source": "csv", "path": str(tmp_path)},
                     8, 0.5, 0.5, seed=0)

    windows = sliding_windows(filled, 8, 0.5)
    for index, label in zip(windows.series_index, windows.y):
        assert train.labels[index] == label  # a window belongs to one recording, one label


def test_csv_errors_name_file_and_column(tmp_path):
    with pytest.raises(DataError, match=f"missing sensor-log file {tmp_path / 'train.csv'}"):
        load_splits({"source": "csv", "path": str(tmp_path)})
    _log(10, [("a", 1)]).drop(columns="label").to_csv(tmp_path / "train.csv", index=False)
    _log(10, [("a", 1)]).to_csv(tmp_path / "test.csv", index=False)
    with pytest.raises(DataError, match=r"train.csv has no 'label' column"):
        load_splits({"source": "csv", "path": str(tmp_path)})


def test_standardizer_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    train = SeriesSet([rng.normal(5, 3, size=(2, 50)).astype(np.float32) for _ in range(4)], np.arange(4))
    test = SeriesSet([rng.normal(-100, 50, size=(2, 50)).astype(np.float32)], np.zeros(1, np.int64))
    scaler = ChannelStandardizer().fit(train)
    values = np.concatenate(scaler.transform(train).series, axis=1)
    np.testing.assert_allclose(values.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(values.std(axis=1), 1, atol=1e-4)
    mean_before = scaler.mean.copy()
    scaler.transform(test)
    np.testing.assert_array_equal(scaler.mean, mean_before)
    assert abs(scaler.transform(test).series[0].mean()) > 10  # test is scaled with train's statistics


def test_window_starts_cover_the_series():
    assert window_starts(10, 4, 2) == [0, 2, 4, 6]
    assert window_starts(11, 4, 2) == [0, 2, 4, 6, 7]
    series = SeriesSet([np.arange(10, dtype=np.float32)[None]], np.zeros(1, np.int64))
    windows = sliding_windows(series, 4, 0.5)
    np.testing.assert_array_equal(windows.x[:, 0, 0], [0, 2, 4, 6])
    np.testing.assert_array_equal(windows.x[-1, 0], [6, 7, 8, 9])
    with pytest.warns(UserWarning, match="1 series shorter"):
        padded = sliding_windows(SeriesSet([np.array([[1.0, 2.0]], np.float32)], None), 4, 0.0)
    np.testing.assert_array_equal(padded.x[0, 0], [1, 2, 2, 2])


def test_validation_carve_is_stratified_seeded_and_disjoint():
    train = load_splits(BASIC)["train"]
    kept, val = carve_validation(train, 0.2, seed=3)
    again_kept, again_val = carve_validation(train, 0.2, seed=3)
    other_kept, _ = carve_validation(train, 0.2, seed=4)
    assert len(val) == 8 and len(kept) == 32
    assert np.bincount(val.labels).tolist() == [2, 2, 2, 2]
    ids = lambda s: {id(x) for x in s.series}
    assert not ids(kept) & ids(val)
    assert [x.tobytes() for x in val.series] == [x.tobytes() for x in again_val.series]
    assert [x.tobytes() for x in kept.series] != [x.tobytes() for x in other_kept.series]


def test_label_fractions_are_stratified_nested_and_seeded():
    labels = np.repeat(np.arange(4), [10, 20, 5, 50])
    subsets = label_fraction_indices(labels, [0.01, 0.1, 0.5, 1.0], seed=0)
    assert np.array_equal(subsets[1.0], np.arange(len(labels)))
    assert np.bincount(labels[subsets[0.01]], minlength=4).tolist() == [1, 1, 1, 1]
    assert np.bincount(labels[subsets[0.5]], minlength=4).tolist() == [5, 10, 3, 25]
    fractions = [0.01, 0.1, 0.5, 1.0]
    for small, large in zip(fractions, fractions[1:]):
        assert set(subsets[small]) <= set(subsets[large])
    assert np.array_equal(label_fraction_indices(labels, [0.1], seed=0)[0.1], subsets[0.1])
    assert not np.array_equal(label_fraction_indices(labels, [0.1], seed=1)[0.1], subsets[0.1])
    with pytest.raises(ValueError, match="outside"):
        label_fraction_indices(labels, [1.5], seed=0)


def test_prepare_data_on_basicmotions():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # BasicMotions has no missing values and no short series
        data = prepare_data(BASIC, BASIC, 50, 0.5, 0.2, seed=0)
    assert data.n_channels == 6 and data.n_classes == 4
    assert data.train.x.shape[1:] == (6, 50) and data.train.x.dtype == np.float32
    assert len(data.train_series_labels) == 32 and len(data.validation_series_labels) == 8
    assert len(data.test_series_labels) == 40
    np.testing.assert_array_equal(data.pretext.x, data.train.x)  # only training windows are pretext data
    val_rows = {w.tobytes() for w in data.validation.x}
    assert not val_rows & {w.tobytes() for w in data.test.x}
    assert not val_rows & {w.tobytes() for w in data.train.x}


def test_channel_mismatch_names_both_sets():
    assert dataset_channels(BASIC) == 6
    with pytest.raises(DataError, match="pretext data aeon:GunPoint has 1 channels but downstream data "
                                        "aeon:BasicMotions has 6"):
        prepare_data({"source": "aeon", "name": "GunPoint"}, BASIC, 50, 0.5, 0.2, seed=0)
