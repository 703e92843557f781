"""Seismic data for facies segmentation: ``SeismicVolume`` checks, sections and patches, the F3 benchmark and
unlabelled-volume loaders (on small files written here), the synthetic generator's physics, and the
inline-block split."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from selfsup.data.errors import DataError
from selfsup.data.seismic.f3_facies import F3_CLASS_NAMES, load_f3
from selfsup.data.seismic.inline_blocks import describe_split, inline_block_split
from selfsup.data.seismic.seismic_volume import (
    SeismicVolume,
    load_unlabelled_volume,
    load_volume_npy,
    load_volume_segy,
    patches,
    sections,
)
from selfsup.data.seismic.synthetic_seismic import ricker_wavelet, synthetic_seismic, synthetic_seismic_volume
from selfsup.data.windows import window_starts


def coded_volume(n_inline=5, n_crossline=7, n_depth=9, labelled=True) -> SeismicVolume:
    """amplitude = 10000 i + 100 j + k, so every voxel says where it came from; labels = k // 3 (3 classes)."""
    i, j, k = np.meshgrid(np.arange(n_inline), np.arange(n_crossline), np.arange(n_depth), indexing="ij")
    labels = (k * 3 // n_depth) if labelled else None
    return SeismicVolume(
        (10000 * i + 100 * j + k).astype(np.float64), labels, ["a", "b", "c"] if labelled else [], name="coded"
    )


# --- SeismicVolume -----------------------------------------------------------------------------------------


def test_volume_casts_dtypes_and_reports_shape():
    volume = coded_volume()
    assert volume.amplitude.dtype == np.float32 and volume.labels.dtype == np.int64
    assert volume.shape == (5, 7, 9) and volume.n_classes == 3


@pytest.mark.parametrize(
    "amplitude, labels, names, message",
    [
        (np.zeros((4, 5)), None, [], "must be 3-D"),
        (np.zeros((2, 3, 4)), np.zeros((2, 3, 5), np.int64), ["a"], "labels shape (2, 3, 5) differs"),
        (np.zeros((2, 3, 4)), np.full((2, 3, 4), 2), ["a", "b"], "label ids span [2, 2] but there are 2 classes"),
        (np.zeros((2, 3, 4)), np.full((2, 3, 4), -1), ["a", "b"], "label ids span [-1, -1]"),
        (np.zeros((2, 3, 4)), np.zeros((2, 3, 4)), [], "needs class_names"),
        (np.full((2, 3, 4), np.nan), None, [], "NaN/inf"),
    ],
)
def test_volume_validation_names_the_volume_and_the_problem(amplitude, labels, names, message):
    with pytest.raises(DataError) as error:
        SeismicVolume(amplitude, labels, names, name="vol-x")
    assert message in str(error.value) and "vol-x" in str(error.value) and "\n" not in str(error.value)


# --- sections ----------------------------------------------------------------------------------------------


def test_inline_sections_are_transposed_to_depth_by_crossline():
    volume = coded_volume()
    x, y, origin = sections(volume, orientation="inline")
    assert x.shape == (5, 1, 9, 7) and x.dtype == np.float32
    assert y.shape == (5, 9, 7) and y.dtype == np.int64
    np.testing.assert_array_equal(origin, np.stack([np.zeros(5), np.arange(5)], axis=1))
    for n, (_, inline) in enumerate(origin):
        depth, crossline = np.meshgrid(np.arange(9), np.arange(7), indexing="ij")
        np.testing.assert_array_equal(x[n, 0], 10000 * inline + 100 * crossline + depth)
        np.testing.assert_array_equal(y[n], depth * 3 // 9)


def test_crossline_sections_keep_only_the_chosen_inlines():
    volume = coded_volume()
    chosen = np.array([3, 1, 2])  # used in increasing order
    x, y, origin = sections(volume, inlines=chosen, orientation="crossline")
    assert x.shape == (7, 1, 9, 3) and y.shape == (7, 9, 3)
    np.testing.assert_array_equal(origin, np.stack([np.ones(7), np.arange(7)], axis=1))
    depth, column = np.meshgrid(np.arange(9), np.arange(3), indexing="ij")
    for n, (_, crossline) in enumerate(origin):
        np.testing.assert_array_equal(x[n, 0], 10000 * (column + 1) + 100 * crossline + depth)
    # no voxel of an inline outside the choice appears
    assert not np.isin(x // 10000, [0, 4]).any()


def test_inline_sections_of_a_subset_and_unlabelled_volumes():
    x, y, origin = sections(coded_volume(labelled=False), inlines=np.array([4, 0]))
    assert y is None and x.shape == (2, 1, 9, 7)
    np.testing.assert_array_equal(origin[:, 1], [0, 4])
    np.testing.assert_array_equal(x[:, 0, 0, 0], [0, 40000])


def test_both_orientations_need_equal_widths():
    volume = coded_volume()
    with pytest.raises(ValueError, match="7 wide and crossline sections 5"):
        sections(volume, orientation="both")
    square = coded_volume(n_inline=7, n_crossline=7)
    x, y, origin = sections(square, orientation="both")
    assert x.shape == (14, 1, 9, 7) and y.shape == (14, 9, 7)
    np.testing.assert_array_equal(origin[:, 0], [0] * 7 + [1] * 7)
    np.testing.assert_array_equal(x[7:], sections(square, orientation="crossline")[0])


@pytest.mark.parametrize(
    "inlines, message",
    [
        (np.array([0, 5]), "span"),
        (np.array([1, 1]), "duplicates"),
        (np.array([], np.int64), "non-empty"),
        (np.array([0.5]), "integer"),
    ],
)
def test_sections_reject_bad_inlines(inlines, message):
    with pytest.raises(ValueError, match=message):
        sections(coded_volume(), inlines=inlines)


# --- patches -----------------------------------------------------------------------------------------------


def test_patches_cover_every_pixel_and_carry_their_source():
    x, y, _ = sections(coded_volume(n_inline=3, n_crossline=13, n_depth=10))  # sections 10 x 13
    px, py, source = patches(x, y, size=4, stride=3)
    tops, lefts = window_starts(10, 4, 3), window_starts(13, 4, 3)
    assert (tops, lefts) == ([0, 3, 6], [0, 3, 6, 9])
    assert px.shape == (3 * 12, 1, 4, 4) and py.shape == (3 * 12, 4, 4) and source.shape == (36, 3)
    covered = np.zeros((3, 10, 13), dtype=int)
    for n, (section, top, left) in enumerate(source):
        np.testing.assert_array_equal(px[n], x[section, :, top : top + 4, left : left + 4])
        np.testing.assert_array_equal(py[n], y[section, top : top + 4, left : left + 4])
        covered[section, top : top + 4, left : left + 4] += 1
    assert covered.min() >= 1
    # section-major, then top, then left
    np.testing.assert_array_equal(source[:12, 0], 0)
    np.testing.assert_array_equal(source[:4, 1:], [[0, 0], [0, 3], [0, 6], [0, 9]])


def test_patches_edge_aligned_patch_and_unlabelled():
    x = np.random.default_rng(0).normal(size=(2, 1, 11, 11)).astype(np.float32)
    px, py, source = patches(x, None, size=5, stride=5)
    assert py is None
    assert sorted({int(t) for t in source[:, 1]}) == [0, 5, 6]  # 0, 5 and one aligned to the bottom edge
    np.testing.assert_array_equal(px[-1, 0], x[1, 0, 6:, 6:])


def test_patches_reject_too_large_or_mismatched():
    x = np.zeros((1, 1, 8, 20), np.float32)
    with pytest.raises(ValueError, match="patch size 9 exceeds the sections' height x width 8 x 20"):
        patches(x, None, size=9, stride=1)
    with pytest.raises(ValueError, match="do not match"):
        patches(x, np.zeros((1, 8, 19), np.int64), size=4, stride=2)
    with pytest.raises(ValueError, match="at least 1"):
        patches(x, None, size=4, stride=0)


# --- F3 benchmark loader -----------------------------------------------------------------------------------

F3_FILES = {"train": ("train", "train"), "test1": ("test_once", "test1"), "test2": ("test_once", "test2")}


def write_f3(root, flat=False, label_dtype=np.uint8):
    """Tiny F3-like volumes: each split has its own shape so a mix-up shows."""
    shapes = {"train": (4, 5, 6), "test1": (3, 5, 6), "test2": (4, 2, 6)}
    rng = np.random.default_rng(0)
    for split, (folder, prefix) in F3_FILES.items():
        where = root if flat else root / folder
        where.mkdir(parents=True, exist_ok=True)
        np.save(where / f"{prefix}_seismic.npy", rng.normal(size=shapes[split]))
        np.save(where / f"{prefix}_labels.npy", rng.integers(0, 6, size=shapes[split]).astype(label_dtype))
    return shapes


@pytest.mark.parametrize("flat", [False, True])
def test_f3_loads_every_split_in_both_layouts(tmp_path, flat):
    shapes = write_f3(tmp_path, flat=flat)
    for split, shape in shapes.items():
        volume = load_f3(tmp_path, split)
        assert volume.shape == shape and volume.amplitude.dtype == np.float32 and volume.labels.dtype == np.int64
        assert (
            volume.class_names
            == F3_CLASS_NAMES
            == ["upper_ns", "middle_ns", "lower_ns", "rijnland_chalk", "scruff", "zechstein"]
        )
        prefix = F3_FILES[split][1]
        folder = tmp_path if flat else tmp_path / F3_FILES[split][0]
        np.testing.assert_array_equal(volume.labels, np.load(folder / f"{prefix}_labels.npy"))
        np.testing.assert_allclose(volume.amplitude, np.load(folder / f"{prefix}_seismic.npy"), rtol=1e-6)


def test_f3_float_labels_are_cast_and_fractions_rejected(tmp_path):
    write_f3(tmp_path, label_dtype=np.float64)
    assert load_f3(tmp_path, "train").labels.dtype == np.int64
    np.save(tmp_path / "train" / "train_labels.npy", np.full((4, 5, 6), 1.5))
    with pytest.raises(DataError, match="non-integer label values"):
        load_f3(tmp_path, "train")


def test_f3_missing_folder_names_the_paths_and_the_source(tmp_path):
    missing = tmp_path / "no_such_f3"
    with pytest.raises(DataError) as error:
        load_f3(missing, "test1")
    message = str(error.value)
    assert str(missing) in message and str(missing / "test_once" / "test1_seismic.npy") in message
    assert "github.com/yalaudah/facies_classification_benchmark" in message and "\n" not in message


def test_f3_missing_file_lists_both_layouts(tmp_path):
    write_f3(tmp_path)
    (tmp_path / "test_once" / "test2_labels.npy").unlink()
    with pytest.raises(DataError) as error:
        load_f3(tmp_path, "test2")
    message = str(error.value)
    assert str(tmp_path / "test_once" / "test2_labels.npy") in message
    assert str(tmp_path / "test2_labels.npy") in message and "facies_classification_benchmark" in message
    load_f3(tmp_path, "test1")  # the other splits are unaffected


def test_f3_rejects_bad_contents(tmp_path):
    write_f3(tmp_path)
    np.save(tmp_path / "train" / "train_labels.npy", np.zeros((4, 5, 7), np.int64))
    with pytest.raises(DataError, match=r"shape \(4, 5, 7\)"):
        load_f3(tmp_path, "train")
    np.save(tmp_path / "train" / "train_labels.npy", np.full((4, 5, 6), 6, np.int64))
    with pytest.raises(DataError, match="label ids span"):
        load_f3(tmp_path, "train")
    with pytest.raises(ValueError, match="unknown F3 split 'val'"):
        load_f3(tmp_path, "val")


# --- unlabelled volumes ------------------------------------------------------------------------------------


def test_npy_volume_loads_unlabelled(tmp_path):
    file = tmp_path / "survey.npy"
    np.save(file, np.arange(24, dtype=np.int16).reshape(2, 3, 4))
    for volume in (load_volume_npy(file), load_unlabelled_volume(file)):
        assert volume.labels is None and volume.amplitude.dtype == np.float32 and volume.shape == (2, 3, 4)
        assert volume.name == "survey.npy"


def test_npy_volume_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="missing seismic volume .*gone.npy"):
        load_volume_npy(tmp_path / "gone.npy")
    flat = tmp_path / "flat.npy"
    np.save(flat, np.zeros((3, 4)))
    with pytest.raises(DataError, match=r"flat.npy holds an array of shape \(3, 4\); expected 3-D"):
        load_unlabelled_volume(flat)
    with pytest.raises(DataError, match=r"unknown seismic volume format '.h5' for .*cube.h5"):
        load_unlabelled_volume(tmp_path / "cube.h5")


@pytest.mark.parametrize("name", ["survey.sgy", "SURVEY.SEGY"])
def test_segy_without_segyio_says_how_to_install(tmp_path, monkeypatch, name):
    file = tmp_path / name
    file.write_bytes(b"\0" * 3600)
    monkeypatch.setitem(sys.modules, "segyio", None)  # makes `import segyio` raise ImportError
    with pytest.raises(DataError, match=f"{name} needs segyio.*pip install segyio"):
        load_unlabelled_volume(file)
    with pytest.raises(DataError, match="missing seismic volume"):
        load_volume_segy(tmp_path / "absent.sgy")


# --- synthetic generator -----------------------------------------------------------------------------------


def test_ricker_wavelet_formula():
    wavelet = ricker_wavelet(25.0)
    half = len(wavelet) // 2
    t = 0.004 * np.arange(-half, half + 1)
    np.testing.assert_allclose(wavelet, (1 - 2 * np.pi**2 * 625 * t**2) * np.exp(-(np.pi**2) * 625 * t**2))
    assert wavelet[half] == 1.0 and abs(wavelet[0]) < 1e-4 and len(wavelet) % 2 == 1


def test_synthetic_is_seeded_and_well_formed():
    first, again, other = synthetic_seismic(seed=1), synthetic_seismic(seed=1), synthetic_seismic(seed=2)
    volume = first.volume
    assert volume.shape == (64, 64, 128) and volume.class_names == [f"facies_{c}" for c in range(6)]
    assert volume.amplitude.dtype == np.float32 and volume.labels.dtype == np.int64
    assert first.impedance.shape == first.reflectivity.shape == first.depth_shift.shape == (64, 64, 128)
    assert abs(float(volume.amplitude.mean())) < 1e-4 and abs(float(volume.amplitude.std()) - 1) < 1e-4
    np.testing.assert_array_equal(volume.amplitude, again.volume.amplitude)
    np.testing.assert_array_equal(volume.labels, again.volume.labels)
    assert first.faults == again.faults and len(first.faults) == 2
    assert not np.array_equal(volume.amplitude, other.volume.amplitude)
    np.testing.assert_array_equal(np.unique(volume.labels), np.arange(6))
    small = synthetic_seismic_volume(n_inline=8, n_crossline=5, n_depth=40, n_facies=3, n_faults=0)
    assert small.shape == (8, 5, 40) and small.n_classes == 3


def test_synthetic_labels_are_layered_in_unfaulted_traces():
    synthetic = synthetic_seismic(seed=0)
    shift = synthetic.depth_shift
    whole_trace_one_block = (shift == shift[..., :1]).all(axis=-1)
    assert whole_trace_one_block.sum() > 100
    labels = synthetic.volume.labels[whole_trace_one_block]  # (traces, depth)
    assert (np.diff(labels, axis=-1) >= 0).all()
    # in a trace untouched by faults every facies appears, top to bottom
    assert all(np.array_equal(np.unique(trace), np.arange(6)) for trace in labels)


@pytest.mark.parametrize("seed", [0, 5])
def test_synthetic_reflectors_sit_exactly_on_label_boundaries(seed):
    synthetic = synthetic_seismic(seed=seed)
    labels, reflectivity = synthetic.volume.labels, np.abs(synthetic.reflectivity)
    boundary = np.zeros(labels.shape, dtype=bool)
    boundary[..., :-1] = labels[..., 1:] != labels[..., :-1]  # r(k) is the interface between k and k + 1
    assert boundary.any()
    assert reflectivity[boundary].min() > 0.075  # facies contrast, documented bound 0.08
    inside = reflectivity[~boundary]
    assert inside.max() < 0.021  # fine layering only, documented bound 0.021
    assert np.count_nonzero(inside > 1e-3) > 0.1 * inside.size  # ... which is there: the seismic has texture


def test_synthetic_fault_moves_labels_and_impedance_together():
    faulted = synthetic_seismic(n_faults=1, noise=0.0, seed=3)
    plain = synthetic_seismic(n_faults=0, noise=0.0, seed=3)  # same earth model, no fault
    throw = faulted.faults[0].throw
    assert 3 <= throw <= 10
    shift = faulted.depth_shift
    assert set(np.unique(shift).tolist()) == {0, throw}
    still = shift == 0
    np.testing.assert_array_equal(faulted.volume.labels[still], plain.volume.labels[still])
    np.testing.assert_array_equal(faulted.impedance[still], plain.impedance[still])
    i, j, k = np.nonzero(shift == throw)
    inside = k >= throw
    i, j, k = i[inside], j[inside], k[inside]
    np.testing.assert_array_equal(faulted.volume.labels[i, j, k], plain.volume.labels[i, j, k - throw])
    np.testing.assert_array_equal(faulted.impedance[i, j, k], plain.impedance[i, j, k - throw])
    assert not np.array_equal(faulted.volume.labels, plain.volume.labels)


def test_synthetic_fault_shift_that_aligns_labels_also_aligns_amplitudes():
    faulted = synthetic_seismic(n_faults=1, noise=0.0, seed=3)
    plain = synthetic_seismic(n_faults=0, noise=0.0, seed=3)
    moved_traces = (faulted.depth_shift == faulted.faults[0].throw).all(axis=-1)  # wholly in the hanging wall
    assert moved_traces.sum() >= 10
    window = slice(20, 128 - 16)  # clear of the wavelet's reach into the volume's top and bottom
    label_match, amplitude_corr = [], []
    for shift in range(16):
        depth = np.arange(128)[window]
        label_match.append(
            np.mean(
                faulted.volume.labels[moved_traces][:, depth] == plain.volume.labels[moved_traces][:, depth - shift]
            )
        )
        amplitude_corr.append(
            np.corrcoef(
                faulted.volume.amplitude[moved_traces][:, depth].ravel(),
                plain.volume.amplitude[moved_traces][:, depth - shift].ravel(),
            )[0, 1]
        )
    best = int(np.argmax(label_match))
    assert best == faulted.faults[0].throw and label_match[best] == 1.0
    assert int(np.argmax(amplitude_corr)) == best and amplitude_corr[best] > 0.999
    assert amplitude_corr[0] < 0.9  # unshifted, the traces do not line up


def test_synthetic_rejects_bad_arguments():
    with pytest.raises(ValueError, match="too small for 6 facies"):
        synthetic_seismic(n_depth=20)
    with pytest.raises(ValueError, match="peak_frequency 200"):
        synthetic_seismic(peak_frequency=200.0)
    with pytest.raises(ValueError, match="at least 2 facies"):
        synthetic_seismic(n_facies=1)


# --- inline-block split ------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_inline_blocks_are_disjoint_contiguous_and_gapped(seed):
    split = inline_block_split(401, gap=5, seed=seed)
    assert list(split) == ["train", "validation", "test"]
    usable = 401 - 2 * 5
    for name, fraction in {"train": 0.6, "validation": 0.2, "test": 0.2}.items():
        inlines = split[name]
        assert inlines.dtype == np.int64 and (np.diff(inlines) == 1).all()
        assert abs(len(inlines) - fraction * usable) < 1
    assert sum(len(v) for v in split.values()) == usable
    blocks = sorted(split.values(), key=lambda b: b[0])
    for before, after in zip(blocks, blocks[1:]):
        assert after[0] - before[-1] - 1 >= 5  # at least `gap` unused inlines between
    all_inlines = np.concatenate(blocks)
    assert len(np.unique(all_inlines)) == len(all_inlines) and all_inlines.min() >= 0 and all_inlines.max() < 401


def test_inline_blocks_seeded_order():
    orders = set()
    for seed in range(10):
        split = inline_block_split(100, seed=seed)
        again = inline_block_split(100, seed=seed)
        assert all(np.array_equal(split[n], again[n]) for n in split)
        orders.add(tuple(sorted(split, key=lambda n: split[n][0])))
    assert len(orders) > 1


def test_inline_blocks_custom_fractions_and_describe():
    split = inline_block_split(43, {"a": 3, "b": 1}, gap=3, seed=0)
    assert (len(split["a"]), len(split["b"])) == (30, 10)
    described = describe_split(split)
    assert json.loads(json.dumps(described)) == {n: [int(v[0]), int(v[-1]), len(v)] for n, v in split.items()}


def test_inline_blocks_too_small_is_a_data_error():
    with pytest.raises(DataError, match=r"cannot split 12 inlines into 3 blocks with gaps of 5: 2 usable"):
        inline_block_split(12, gap=5)
    with pytest.raises(ValueError, match="gap must be >= 0"):
        inline_block_split(100, gap=-1)


# --- the seismic domain's table of sources -----------------------------------------------------------------


def test_each_seismic_source_loads_through_its_table_entry(tmp_path):
    """Labelled volumes, pretext volumes and class names known without data all come from the entries of
    ``SeismicDomain.sources``; unlabelled data is refused downstream before its file is read."""
    from selfsup.data.seismic.sources import SyntheticSeismicOptions
    from selfsup.domains.seismic import (
        labelled_class_names,
        load_labelled_volumes,
        load_pretext_volume,
    )

    shapes = write_f3(tmp_path / "f3")
    f3 = {"source": "f3", "path": str(tmp_path / "f3")}
    volumes = load_labelled_volumes(f3)
    assert sorted(volumes) == ["test", "volume"]
    assert (volumes["volume"].shape, volumes["test"].shape) == (shapes["train"], shapes["test1"])
    assert load_pretext_volume(f3).shape == shapes["train"]
    assert labelled_class_names(f3) == F3_CLASS_NAMES

    options = {"n_inline": 8, "n_crossline": 9, "n_depth": 24, "n_facies": 3, "seed": 2}
    synthetic = {"source": "synthetic_seismic", "options": options}
    expected = synthetic_seismic_volume(**SyntheticSeismicOptions(**options).model_dump())
    for volume in (load_labelled_volumes(synthetic)["volume"], load_pretext_volume(synthetic)):
        np.testing.assert_array_equal(volume.amplitude, expected.amplitude)
        np.testing.assert_array_equal(volume.labels, expected.labels)
    assert sorted(load_labelled_volumes(synthetic)) == ["volume"]  # its test block is carved from the volume
    assert labelled_class_names(synthetic) == ["facies_0", "facies_1", "facies_2"] == expected.class_names
    assert labelled_class_names({"source": "synthetic_seismic"}) == [f"facies_{i}" for i in range(6)]  # defaults

    np.save(tmp_path / "survey.npy", np.zeros((2, 3, 4), np.float32))
    unlabelled = {"source": "seismic_volume", "path": str(tmp_path / "survey.npy")}
    assert load_pretext_volume(unlabelled).labels is None and labelled_class_names(unlabelled) is None
    with pytest.raises(DataError) as error:
        load_labelled_volumes({"source": "seismic_volume", "path": "/nowhere/x.npy"})
    assert str(error.value) == (
        "seismic_volume:/nowhere/x.npy has no facies labels; it can only be pretext data "
        "(downstream seismic data: synthetic_seismic or f3)"
    )
