"""The F3 Netherlands facies benchmark (Alaudah, Michalowicz, Alfarraj & AlRegib, "A machine-learning
benchmark for facies classification", Interpretation 7(3), 2019; github.com/yalaudah/facies_classification_benchmark).

The benchmark's data.zip unpacks to::

    data/train/train_seismic.npy      data/train/train_labels.npy
    data/test_once/test1_seismic.npy  data/test_once/test1_labels.npy
    data/test_once/test2_seismic.npy  data/test_once/test2_labels.npy

Each array is [inline, crossline, depth]; labels are the facies ids 0..5 of ``F3_CLASS_NAMES`` (upper,
middle and lower North Sea group, Rijnland/Chalk, Scruff, Zechstein). The same six file names lying
directly in the given folder are accepted too. The benchmark asks that the test splits be used once,
after model selection; validation must come from the train volume (see ``inline_blocks``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from selfsup.data.errors import DataError
from selfsup.data.seismic.seismic_volume import SeismicVolume

F3_CLASS_NAMES = ["upper_ns", "middle_ns", "lower_ns", "rijnland_chalk", "scruff", "zechstein"]

# split -> (sub-folder in the benchmark layout, file prefix)
F3_SPLITS = {"train": ("train", "train"), "test1": ("test_once", "test1"), "test2": ("test_once", "test2")}

F3_SOURCE = (
    "download data.zip as the README of github.com/yalaudah/facies_classification_benchmark says "
    "(section 'Dataset') and pass its unzipped data/ folder"
)


def _candidate_folders(root: Path, split: str) -> list[Path]:
    """Where the split's two files may lie: the benchmark's sub-folder first, then the folder itself."""
    return [root / F3_SPLITS[split][0], root]


def _load_array(file: Path) -> np.ndarray:
    try:
        # memory-mapped: the train volume is ~72 M voxels, read once by the cast below
        return np.load(file, mmap_mode="r", allow_pickle=False)
    except Exception as error:
        raise DataError(f"cannot read {file}: {' '.join(str(error).split())}") from None


def _as_label_ids(labels: np.ndarray, file: Path) -> np.ndarray:
    """int64 facies ids; float-stored labels are accepted when they hold whole numbers."""
    if np.issubdtype(labels.dtype, np.integer):
        return labels.astype(np.int64)
    if not np.issubdtype(labels.dtype, np.floating):
        raise DataError(f"{file} holds {labels.dtype} values; expected integer facies ids 0..5")
    labels = np.asarray(labels)
    rounded = np.rint(labels)
    if not np.array_equal(rounded, labels):  # also False for NaN
        raise DataError(f"{file} holds non-integer label values; expected facies ids 0..5")
    return rounded.astype(np.int64)


def load_f3(path, split: Literal["train", "test1", "test2"] = "train") -> SeismicVolume:
    """The labelled F3 volume of ``split`` from the benchmark folder ``path`` (amplitudes float32, labels int64)."""
    if split not in F3_SPLITS:
        raise ValueError(f"unknown F3 split {split!r}; known: {', '.join(F3_SPLITS)}")
    root = Path(path).expanduser()
    prefix = F3_SPLITS[split][1]
    tried = []
    for folder in _candidate_folders(root, split):
        seismic_file, labels_file = folder / f"{prefix}_seismic.npy", folder / f"{prefix}_labels.npy"
        tried += [seismic_file, labels_file]
        if seismic_file.is_file() and labels_file.is_file():
            break
    else:
        looked = ", ".join(map(str, tried))
        if not root.is_dir():
            raise DataError(f"F3 facies data folder {root} does not exist (looked for {looked}): {F3_SOURCE}")
        raise DataError(f"F3 facies {split} split not found in {root} (tried {looked}): {F3_SOURCE}")
    seismic, labels = _load_array(seismic_file), _load_array(labels_file)
    if seismic.ndim != 3:
        raise DataError(
            f"{seismic_file} holds an array of shape {seismic.shape}; expected 3-D (inline, crossline, depth)"
        )
    if labels.shape != seismic.shape:
        raise DataError(f"{labels_file} has shape {labels.shape} but {seismic_file} has {seismic.shape}")
    return SeismicVolume(
        np.asarray(seismic, dtype=np.float32),
        _as_label_ids(labels, labels_file),
        list(F3_CLASS_NAMES),
        name=f"F3 {split} ({seismic_file.parent})",
    )


def load_f3_volumes(name: str | None, path: str | None, *, train_only: bool = False) -> dict[str, SeismicVolume]:
    """The ``f3`` source: ``{"volume": train, "test": test1}``, validation being a block of the train volume;
    with ``train_only`` (pretext data), the train volume alone. ``name`` is unused."""
    if not path:
        raise DataError(f"source 'f3' needs a path (got path={path!r})")
    volumes = {"volume": load_f3(path, "train")}
    if not train_only:
        volumes["test"] = load_f3(path, "test1")
    return volumes


def f3_class_names() -> list[str]:
    """The ``f3`` source's class names, known without reading its files: ``F3_CLASS_NAMES``."""
    return list(F3_CLASS_NAMES)
