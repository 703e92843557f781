"""Data: aeon bundled sets, UCR/UEA files and CSV sensor logs written by the tests; cleaning, standardisation,
windows, validation carve-out, label-fraction subsets and the trainer's entry point ``prepare_data``."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import pytest
from before_ray import refused, tune_cli  # noqa: F401  (fixtures; refused uses tune_cli)

from selfsup.data.errors import DataError
from selfsup.data.splits import label_fraction_indices
from selfsup.data.timeseries.aeon_sets import bundled_aeon_datasets
from selfsup.data.timeseries.cleaning import ChannelStandardizer, fill_missing
from selfsup.data.timeseries.prepare import dataset_channels, load_splits, prepare_data
from selfsup.data.timeseries.series import SeriesSet, carve_validation
from selfsup.data.timeseries.sliding_windows import sliding_windows
from selfsup.data.windows import window_starts
from selfsup.pretrain import data_shape

BASIC = {"source": "aeon", "name": "BasicMotions", "path": None}


# --- aeon bundled sets -------------------------------------------------------------------------------------


def test_basicmotions_from_aeon_shares_the_label_mapping():
    splits = load_splits("aeon", "BasicMotions", None)
    train, test = splits["train"], splits["test"]
    assert set(splits) == {"train", "test"}
    assert (len(train), len(test), train.n_channels) == (40, 40, 6)
    assert {s.shape for s in train.series} == {s.shape for s in test.series} == {(6, 100)}
    assert {s.dtype for s in train.series} == {np.dtype(np.float32)}
    assert train.class_names == test.class_names == ["badminton", "running", "standing", "walking"]
    assert np.bincount(train.labels).tolist() == np.bincount(test.labels).tolist() == [10, 10, 10, 10]
    assert train.labels.dtype == np.int64


def test_spec_objects_and_dicts_load_the_same():
    class Spec:  # the config's pydantic DatasetSpec is any object with these attributes
        source, name, path = "aeon", "GunPoint", None

    by_object, by_name = load_splits(Spec())["train"], load_splits("aeon", "GunPoint")["train"]
    assert by_object.class_names == by_name.class_names == ["1", "2"]
    np.testing.assert_array_equal(by_object.series[3], by_name.series[3])


@pytest.mark.parametrize("name", ["JapaneseVowels", "PickupGestureWiimoteZ"])
def test_unequal_length_sets_load_and_window(name):
    train = load_splits({"source": "aeon", "name": name})["train"]
    lengths = [s.shape[1] for s in train.series]
    assert len(set(lengths)) > 1
    window = sorted(lengths)[len(lengths) // 2]  # the median: about half the series are shorter
    n_short = sum(length < window for length in lengths)
    with pytest.warns(UserWarning, match=f"{name}: {n_short} series shorter than the window"):
        windows = sliding_windows(train, window, 0.5, name)
    assert windows.x.shape[1:] == (train.n_channels, window)
    assert set(windows.series_index.tolist()) == set(range(len(train)))
    assert np.isfinite(windows.x).all()


def test_series_length_resizes_every_series_of_every_split_to_one_window():
    """``data.series_length``: whole gestures of 29 to 361 steps, each resized by linear interpolation over its
    whole duration (first and last steps kept), then standardised with the training statistics."""
    pickup = {"source": "aeon", "name": "PickupGestureWiimoteZ", "path": None}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is edge-padded
        data = prepare_data(pickup, pickup, 32, 0.0, 0.2, seed=0, series_length=32)
    assert (len(data.train), len(data.validation), len(data.test), len(data.pretext)) == (40, 10, 50, 40)
    for windows in (data.train, data.validation, data.test, data.pretext):
        assert windows.x.shape[1:] == (1, 32)
        assert windows.series_index.tolist() == list(range(len(windows)))  # one window per series
    raw_test = load_splits(pickup)["test"].series
    for i in (0, 7, 49):
        raw = raw_test[i][0].astype(np.float64)
        expected = [np.interp(t * (len(raw) - 1) / 31, np.arange(len(raw)), raw) for t in range(32)]
        restored = data.test.x[i, 0] * data.input_std[0] + data.input_mean[0]
        np.testing.assert_allclose(restored, expected, rtol=1e-4, atol=1e-4)
        assert (restored[0], restored[-1]) == pytest.approx((raw[0], raw[-1]), abs=1e-4)

    # Shorter windows slide over the resized series: (32 - 16) / 8 + 1 = 3 per series.
    data = prepare_data(pickup, pickup, 16, 0.5, 0.2, seed=0, series_length=32)
    assert np.bincount(data.test.series_index).tolist() == [3] * 50


def test_evaluation_window_cuts_the_downstream_splits_and_leaves_the_pretext_windows():
    """``data.evaluation_window``: the method trains on 16-step windows of the resized training gestures while
    every downstream split (train, validation, test) is cut into its own windows, here each series whole."""
    pickup = {"source": "aeon", "name": "PickupGestureWiimoteZ", "path": None}
    windowed = prepare_data(pickup, pickup, 16, 0.5, 0.2, seed=0, series_length=32)
    data = prepare_data(pickup, pickup, 16, 0.5, 0.2, seed=0, series_length=32, evaluation_window=(32, 0.0))
    for split in ("train", "validation", "test"):
        windows = getattr(data, split)
        assert windows.x.shape[1:] == (1, 32)
        assert windows.series_index.tolist() == list(range(len(windows)))  # one whole series each
    assert data.pretext.x.shape == windowed.pretext.x.shape == (40 * 3, 1, 16)
    np.testing.assert_array_equal(data.pretext.x, windowed.pretext.x)  # the pretext windows are unchanged
    np.testing.assert_array_equal(data.pretext.series_index, windowed.pretext.series_index)
    # Windows of training series only: a whole training series holds each of its pretext windows.
    for i in (0, 41, 119):
        series, start = data.pretext.series_index[i], 8 * (i % 3)
        np.testing.assert_array_equal(data.pretext.x[i], data.train.x[series][:, start : start + 16])
    assert data_shape(data).window_length == 16  # what the method is built for


def test_unknown_aeon_name_fails_fast_without_download():
    start = time.perf_counter()
    with pytest.raises(DataError, match="aeon has no bundled data set 'NoSuchSet'; bundled: .*BasicMotions"):
        load_splits({"source": "aeon", "name": "NoSuchSet"})
    assert time.perf_counter() - start < 2
    bundled = bundled_aeon_datasets()
    assert {"BasicMotions", "GunPoint", "JapaneseVowels", "PickupGestureWiimoteZ", "ArrowHead"} <= set(bundled)
    assert "Covid3Month" not in bundled  # a regression set, not classification


def test_unknown_source_is_a_data_error():
    with pytest.raises(DataError, match="unknown data source 'ftp'; known: aeon, ucr_files, csv$"):
        load_splits("ftp", "X", None)


def test_load_splits_reads_the_time_series_domains_table():
    """A source's loader is its entry in ``TimeSeriesDomain.sources``; a name, or a whole spec, loads alike."""
    from selfsup.domains.timeseries import TimeSeriesDomain

    assert list(TimeSeriesDomain.sources) == ["aeon", "ucr_files", "csv"]
    by_name = load_splits("aeon", "BasicMotions", train_only=True)["train"]
    by_entry = TimeSeriesDomain.sources["aeon"].load(BASIC, train_only=True)["train"]
    assert len(by_name) == len(by_entry) == 40 and by_name.class_names == by_entry.class_names
    np.testing.assert_array_equal(by_name.series[0], by_entry.series[0])


# --- UCR/UEA .ts files -------------------------------------------------------------------------------------

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


def _ts_row(k: int, label: str) -> str:
    """Channel 0 = k..k+7, channel 1 = -k..-k-7."""
    return ",".join(str(k + i) for i in range(8)) + ":" + ",".join(str(-k - i) for i in range(8)) + f":{label}"


def test_ucr_files_load(tmp_path):
    (tmp_path / "Tiny_TRAIN.ts").write_text(
        TS_HEADER + "\n".join([_ts_row(1, "a"), _ts_row(2, "b"), _ts_row(3, "a")]) + "\n"
    )
    (tmp_path / "Tiny_TEST.ts").write_text(TS_HEADER + _ts_row(4, "b") + "\n")
    splits = load_splits("ucr_files", "Tiny", str(tmp_path))
    assert len(splits["train"]) == 3 and len(splits["test"]) == 1 and splits["train"].n_channels == 2
    assert splits["train"].class_names == splits["test"].class_names == ["a", "b"]
    assert splits["train"].labels.tolist() == [0, 1, 0] and splits["test"].labels.tolist() == [1]
    np.testing.assert_array_equal(splits["train"].series[0][0], np.arange(1, 9))
    np.testing.assert_array_equal(splits["train"].series[0][1], -np.arange(1, 9))
    assert dataset_channels({"source": "ucr_files", "name": "Tiny", "path": str(tmp_path)}) == 2


def test_ucr_files_missing_file_names_the_path(tmp_path):
    (tmp_path / "Tiny_TRAIN.ts").write_text(TS_HEADER + _ts_row(1, "a") + "\n")
    with pytest.raises(DataError, match=f"missing UCR/UEA file {tmp_path / 'Tiny_TEST.ts'}"):
        load_splits("ucr_files", "Tiny", str(tmp_path))
    with pytest.raises(DataError, match=str(tmp_path / "Other_TRAIN.ts")):
        load_splits("ucr_files", "Other", str(tmp_path))


# --- CSV sensor logs ---------------------------------------------------------------------------------------


def _log(rows_per_segment, segments, seed=0, nan_at=()):
    """A sensor log: for each (label, session) in ``segments``, that many rows of 3 channels ax, ay, az."""
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


def _write_logs(folder, nan_at=(), test_seed=1):
    """train: 5 runs of 20 rows (the first two merge: same label and session); validation and test: 2 each."""
    folder.mkdir(exist_ok=True)
    _log(20, [("walk", 1), ("walk", 1), ("sit", 1), ("sit", 2), ("walk", 2)], nan_at=nan_at).to_csv(
        folder / "train.csv", index=False
    )
    _log(20, [("walk", 4), ("sit", 4)], seed=2).to_csv(folder / "validation.csv", index=False)
    _log(20, [("sit", 3), ("walk", 3)], seed=test_seed).to_csv(folder / "test.csv", index=False)
    return {"source": "csv", "name": None, "path": str(folder)}


def test_csv_segments_split_at_label_and_session_changes(tmp_path):
    splits = load_splits(_write_logs(tmp_path))
    assert set(splits) == {"train", "validation", "test"}
    train = splits["train"]
    assert train.n_channels == 3
    assert [s.shape[1] for s in train.series] == [40, 20, 20, 20]
    assert train.class_names == ["sit", "walk"] and train.labels.tolist() == [1, 0, 0, 1]
    assert train.groups.tolist() == [0, 0, 1, 1]  # sessions 1, 2 (3 and 4 are in test/validation)
    assert splits["test"].groups.tolist() == [2, 2] and splits["validation"].groups.tolist() == [3, 3]
    raw = pd.read_csv(tmp_path / "train.csv")
    np.testing.assert_array_equal(train.series[1], raw.loc[40:59, ["ax", "ay", "az"]].to_numpy(np.float32).T)


def test_csv_windows_never_mix_labels_or_sessions(tmp_path):
    train = load_splits(_write_logs(tmp_path))["train"]
    raw = pd.read_csv(tmp_path / "train.csv")
    windows = sliding_windows(train, 8, 0.5)
    assert len(windows) == 9 + 4 + 4 + 4  # 40 steps -> starts 0..32 by 4; 20 -> 0, 4, 8, 12
    for x, y, index in zip(windows.x, windows.y, windows.series_index):
        assert y == train.labels[index]
        # the window's rows are consecutive rows of the CSV with one label and one session
        row = np.flatnonzero(np.isclose(raw["ax"].to_numpy(), x[0, 0]))[0]
        block = raw.iloc[row : row + 8]
        np.testing.assert_allclose(block[["ax", "ay", "az"]].to_numpy().T, x, rtol=1e-6)
        assert block["label"].nunique() == 1 and block["session"].nunique() == 1
        assert block["label"].iloc[0] == train.class_names[y]


def test_csv_missing_values_are_filled_forward_then_backward(tmp_path):
    spec = _write_logs(tmp_path, nan_at=[(0, "ax"), (1, "ax"), (45, "ay"), (46, "ay")])
    train = load_splits(spec)["train"]
    filled, count = fill_missing(train)
    assert count == 4
    assert not np.isnan(np.concatenate(filled.series, axis=1)).any()
    np.testing.assert_array_equal(filled.series[0][0, :3], [train.series[0][0, 2]] * 3)  # backward at start
    np.testing.assert_array_equal(filled.series[1][1, 5:7], [train.series[1][1, 4]] * 2)  # forward in gap
    with pytest.warns(UserWarning, match=f"csv:{tmp_path}: filled 4 missing values forward then backward"):
        data = prepare_data(spec, spec, 8, 0.5, 0.5, seed=0)
    assert not np.isnan(data.train.x).any()


def test_all_nan_channel_becomes_zero():
    series = np.array([[np.nan, np.nan, np.nan], [1.0, np.nan, 3.0]], np.float32)
    filled, count = fill_missing(SeriesSet([series], np.zeros(1, np.int64)))
    assert count == 4
    np.testing.assert_array_equal(filled.series[0], [[0, 0, 0], [1, 1, 3]])


def test_csv_errors_name_file_and_column(tmp_path):
    with pytest.raises(DataError, match=f"missing sensor-log file {tmp_path / 'train.csv'}"):
        load_splits({"source": "csv", "path": str(tmp_path)})
    _log(10, [("a", 1)]).drop(columns="label").to_csv(tmp_path / "train.csv", index=False)
    _log(10, [("a", 1)]).to_csv(tmp_path / "test.csv", index=False)
    with pytest.raises(DataError, match=f"{tmp_path / 'train.csv'} has no 'label' column"):
        load_splits({"source": "csv", "path": str(tmp_path)})
    _log(10, [("a", 1)]).assign(ax="x").to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(DataError, match="train.csv: channel column.* ax are not numeric"):
        load_splits({"source": "csv", "path": str(tmp_path)})


def test_a_csv_class_the_training_file_lacks_is_refused_as_image_folders_refuse_it(tmp_path, refused):
    """A class only in test.csv could never be predicted (test accuracy capped below 1): refused when the data is
    loaded and by a sweep's check before Ray starts, which loads the training split only (``check_data``)."""
    spec = _write_logs(tmp_path)
    _log(20, [("sit", 3), ("run", 3), ("jump", 3)]).to_csv(tmp_path / "test.csv", index=False)
    expected = (
        f"{tmp_path / 'test.csv'}: label(s) jump, run are not among the training classes of "
        f"{tmp_path / 'train.csv'} (sit, walk); every class needs training rows"
    )
    for train_only in (False, True):
        with pytest.raises(DataError) as error:
            load_splits(spec, train_only=train_only)
        assert str(error.value) == expected
    sweep = {
        "name": "csv",
        "method": "barlow_twins",
        "data": {"pretext": spec, "downstream": spec, "window": {"length": 8, "overlap": 0.5}},
    }
    assert refused(sweep) == expected
    _write_logs(tmp_path)
    _log(20, [("walk", 4), ("run", 4)], seed=2).to_csv(tmp_path / "validation.csv", index=False)
    with pytest.raises(DataError, match=r"validation.csv: label\(s\) run are not among the training classes"):
        dataset_channels(spec)
    _write_logs(tmp_path)
    assert load_splits(spec)["test"].class_names == ["sit", "walk"]


# --- standardisation ---------------------------------------------------------------------------------------


def test_standardizer_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    train = SeriesSet([rng.normal(5, 3, size=(2, 50)).astype(np.float32) for _ in range(4)], np.arange(4))
    test = SeriesSet([rng.normal(-100, 50, size=(2, 50)).astype(np.float32)], np.zeros(1, np.int64))
    scaler = ChannelStandardizer().fit(train)
    values = np.concatenate(scaler.transform(train).series, axis=1)
    np.testing.assert_allclose(values.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(values.std(axis=1), 1, atol=1e-4)
    mean_before = scaler.mean.copy()
    scaled_test = scaler.transform(test)
    np.testing.assert_array_equal(scaler.mean, mean_before)
    np.testing.assert_allclose(
        scaled_test.series[0], (test.series[0] - mean_before[:, None]) / scaler.std[:, None], rtol=1e-5
    )


def test_prepare_data_ignores_test_statistics(tmp_path):
    """Two data sets with the same training data and very different test data: identical training windows."""
    a = _write_logs(tmp_path / "a", test_seed=1)
    b = _write_logs(tmp_path / "b", test_seed=7)
    frame = pd.read_csv(tmp_path / "b" / "test.csv")
    frame[["ax", "ay", "az"]] = frame[["ax", "ay", "az"]] * 100 + 50
    frame.to_csv(tmp_path / "b" / "test.csv", index=False)
    data_a, data_b = prepare_data(a, a, 8, 0.5, 0.5, 0), prepare_data(b, b, 8, 0.5, 0.5, 0)
    np.testing.assert_array_equal(data_a.train.x, data_b.train.x)
    np.testing.assert_array_equal(data_a.validation.x, data_b.validation.x)
    assert abs(data_b.test.x.mean()) > 10  # test scaled with the training statistics, not its own
    values = data_a.train.x.transpose(1, 0, 2).reshape(3, -1)
    assert np.abs(values.mean(axis=1)).max() < 0.5  # windows overlap, so about (not exactly) 0


# --- windows -----------------------------------------------------------------------------------------------


def test_window_starts_cover_the_series():
    assert window_starts(10, 4, 2) == [0, 2, 4, 6]
    assert window_starts(11, 4, 2) == [0, 2, 4, 6, 7]
    assert window_starts(4, 4, 2) == [0]
    series = SeriesSet([np.arange(10, dtype=np.float32)[None]], np.array([3]))
    windows = sliding_windows(series, 4, 0.5)
    assert windows.x.shape == (4, 1, 4) and windows.x.dtype == np.float32
    np.testing.assert_array_equal(windows.x[:, 0, 0], [0, 2, 4, 6])
    np.testing.assert_array_equal(windows.x[-1, 0], [6, 7, 8, 9])
    assert windows.y.tolist() == [3, 3, 3, 3] and windows.series_index.tolist() == [0, 0, 0, 0]
    no_overlap = sliding_windows(series, 4, 0.0)
    np.testing.assert_array_equal(no_overlap.x[:, 0, 0], [0, 4, 6])  # 6: the tail window aligned to the end
    with pytest.raises(ValueError, match="overlap"):
        sliding_windows(series, 4, 1.0)


def test_short_series_are_edge_padded_with_a_warning():
    sets = SeriesSet([np.array([[1.0, 2.0]], np.float32), np.arange(6, dtype=np.float32)[None]], None)
    with pytest.warns(UserWarning, match="short: 1 series shorter than the window"):
        windows = sliding_windows(sets, 4, 0.0, "short")
    np.testing.assert_array_equal(windows.x[0, 0], [1, 2, 2, 2])
    assert windows.series_index.tolist() == [0, 1, 1] and windows.y is None


# --- splits ------------------------------------------------------------------------------------------------


def test_validation_carve_is_stratified_seeded_and_disjoint():
    train = load_splits(BASIC)["train"]
    kept, val = carve_validation(train, 0.2, seed=3)
    again_kept, again_val = carve_validation(train, 0.2, seed=3)
    other_kept, _ = carve_validation(train, 0.2, seed=4)
    assert len(val) == 8 and len(kept) == 32
    assert np.bincount(val.labels).tolist() == [2, 2, 2, 2]

    def ids(split):
        return {id(x) for x in split.series}

    assert not ids(kept) & ids(val) and ids(kept) | ids(val) == ids(train)
    assert [x.tobytes() for x in val.series] == [x.tobytes() for x in again_val.series]
    assert [x.tobytes() for x in kept.series] != [x.tobytes() for x in other_kept.series]


def test_validation_carve_keeps_every_class_where_possible():
    labels = np.array([0] * 100 + [1] * 2 + [2])  # sklearn's proportional split would give classes 1, 2 none
    sets = SeriesSet([np.zeros((1, 5), np.float32) for _ in labels], labels)
    kept, val = carve_validation(sets, 0.03, seed=0)
    assert np.bincount(val.labels, minlength=3).tolist() == [3, 1, 0]  # class 2's single series stays in train
    assert np.bincount(kept.labels, minlength=3).tolist() == [97, 1, 1]


def test_label_fractions_are_stratified_nested_and_seeded():
    labels = np.repeat(np.arange(4), [10, 20, 5, 50])
    fractions = [0.01, 0.1, 0.3, 0.5, 1.0]
    subsets = label_fraction_indices(labels, fractions, seed=0)
    assert np.array_equal(subsets[1.0], np.arange(len(labels)))
    assert np.bincount(labels[subsets[0.01]], minlength=4).tolist() == [1, 1, 1, 1]
    assert np.bincount(labels[subsets[0.3]], minlength=4).tolist() == [3, 6, 2, 15]
    assert np.bincount(labels[subsets[0.5]], minlength=4).tolist() == [5, 10, 3, 25]
    for small, large in zip(fractions, fractions[1:]):
        assert set(subsets[small]) <= set(subsets[large])
    assert np.array_equal(label_fraction_indices(labels, [0.1], seed=0)[0.1], subsets[0.1])
    assert not np.array_equal(label_fraction_indices(labels, [0.1], seed=1)[0.1], subsets[0.1])
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="outside"):
            label_fraction_indices(labels, [0.5, bad], seed=0)


# --- prepare_data ------------------------------------------------------------------------------------------


def test_prepare_data_on_basicmotions():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # BasicMotions has no missing values and no short series
        data = prepare_data(BASIC, dict(BASIC), 50, 0.5, 0.2, seed=0)
    assert data.n_channels == 6 and data.n_classes == 4
    assert data.class_names == ["badminton", "running", "standing", "walking"]
    # 100 steps, window 50, step 25 -> 3 windows per series
    assert data.train.x.shape == (32 * 3, 6, 50) and data.train.x.dtype == np.float32
    assert data.validation.x.shape == (8 * 3, 6, 50) and data.test.x.shape == (40 * 3, 6, 50)
    assert len(data.train_series_labels) == 32 and len(data.validation_series_labels) == 8
    assert len(data.test_series_labels) == 40
    np.testing.assert_array_equal(data.train.y, data.train_series_labels[data.train.series_index])
    np.testing.assert_array_equal(data.pretext.x, data.train.x)  # only training windows are pretext data
    val_rows = {w.tobytes() for w in data.validation.x}
    assert not val_rows & {w.tobytes() for w in data.test.x}
    assert not val_rows & {w.tobytes() for w in data.train.x}


def test_prepare_data_with_another_pretext_set():
    gunpoint, arrowhead = {"source": "aeon", "name": "GunPoint"}, {"source": "aeon", "name": "ArrowHead"}
    data = prepare_data(arrowhead, gunpoint, 30, 0.0, 0.25, seed=1)
    assert data.pretext.y is None and data.pretext.x.shape[1:] == (1, 30)
    assert len(set(data.pretext.series_index.tolist())) == 36  # ArrowHead's 36 training series
    assert data.n_classes == 2 and data.class_names == ["1", "2"]
    pretext = data.pretext.x.reshape(-1)
    assert abs(pretext.mean()) < 0.2 and abs(pretext.std() - 1) < 0.2  # standardised on itself


def test_channel_mismatch_names_both_sets():
    assert dataset_channels(BASIC) == 6
    with pytest.raises(
        DataError, match="pretext data aeon:GunPoint has 1 channels but downstream data aeon:BasicMotions has 6"
    ):
        prepare_data({"source": "aeon", "name": "GunPoint"}, BASIC, 50, 0.5, 0.2, seed=0)
