"""3-D seismic volumes for facies segmentation: ``SeismicVolume``, loaders for unlabelled volumes (.npy,
SEG-Y), and the cut into 2-D sections and square patches that the image backbones consume.

Axes follow the F3 facies benchmark (Alaudah et al., Interpretation 2019): a volume is indexed
[inline, crossline, depth]. A section is shown the way interpreters look at it, depth down the image::

    inline section i     ->  amplitude[i, :, :].T     (depth, n_crossline)
    crossline section j  ->  amplitude[inlines, j, :].T  (depth, len(inlines))

so an image batch is x (n, 1, depth, width) and its label maps y (n, depth, width), as in the benchmark's
section loader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from selfsup.data.errors import DataError
from selfsup.data.windows import window_starts

ORIENTATION_CODES = {"inline": 0, "crossline": 1}  # first column of ``origin``


@dataclass
class SeismicVolume:
    """Seismic amplitudes on an (n_inline, n_crossline, n_depth) grid, with an optional facies id per voxel.

    ``amplitude`` is cast to float32 and ``labels`` to int64 (no copy when they already are). Shapes and
    label ids are checked on construction, so a volume that exists is usable.
    """

    amplitude: np.ndarray = field(repr=False)  # (n_inline, n_crossline, n_depth) float32
    labels: np.ndarray | None = field(repr=False)  # same shape, int64 facies id in [0, n_classes), or None
    class_names: list[str] = field(default_factory=list)
    name: str = "seismic volume"  # e.g. "F3 train", for messages

    def __post_init__(self) -> None:
        self.amplitude = np.asarray(self.amplitude, dtype=np.float32)
        if self.amplitude.ndim != 3:
            raise DataError(
                f"{self.name}: amplitude must be 3-D (inline, crossline, depth), got shape {self.amplitude.shape}"
            )
        if min(self.amplitude.shape) < 1:
            raise DataError(f"{self.name}: amplitude volume is empty, shape {self.amplitude.shape}")
        if not np.isfinite(self.amplitude).all():
            # one NaN trace turns every loss it touches into NaN, so refuse it here rather than mid-training
            bad = int(np.count_nonzero(~np.isfinite(self.amplitude)))
            raise DataError(f"{self.name}: amplitude holds {bad} NaN/inf samples")
        if self.labels is None:
            return
        if not self.class_names:
            raise DataError(f"{self.name}: labelled volume needs class_names")
        self.labels = np.asarray(self.labels)
        if self.labels.shape != self.amplitude.shape:
            raise DataError(
                f"{self.name}: labels shape {self.labels.shape} differs from amplitude shape {self.amplitude.shape}"
            )
        self.labels = self.labels.astype(np.int64, copy=False)
        low, high = int(self.labels.min()), int(self.labels.max())
        if low < 0 or high >= len(self.class_names):
            raise DataError(
                f"{self.name}: label ids span [{low}, {high}] but there are "
                f"{len(self.class_names)} classes (ids 0..{len(self.class_names) - 1})"
            )

    @property
    def shape(self) -> tuple[int, int, int]:
        """(n_inline, n_crossline, n_depth)."""
        n_inline, n_crossline, n_depth = self.amplitude.shape  # 3-D: checked on construction
        return int(n_inline), int(n_crossline), int(n_depth)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


# --- loaders for unlabelled volumes (pretext training) -----------------------------------------------------


def load_volume_npy(path) -> SeismicVolume:
    """An unlabelled volume from a .npy file holding a 3-D numeric array [inline, crossline, depth]."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"missing seismic volume {path}")
    try:
        # memory-map first: the header tells the shape without reading a multi-GB volume twice
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as error:
        raise DataError(f"cannot read {path}: {' '.join(str(error).split())}") from None
    if array.ndim != 3:
        raise DataError(f"{path} holds an array of shape {array.shape}; expected 3-D (inline, crossline, depth)")
    if not np.issubdtype(array.dtype, np.number):
        raise DataError(f"{path} holds {array.dtype} values; expected numeric seismic amplitudes")
    return SeismicVolume(np.asarray(array, dtype=np.float32), None, [], name=path.name)


def load_volume_segy(path) -> SeismicVolume:
    """An unlabelled volume from a SEG-Y file with inline/crossline geometry, read with ``segyio``.

    ``segyio.tools.cube`` returns the traces as an [inline, crossline, sample] cube; it needs a sorted
    (regular) survey. segyio is imported only here so the rest of the package does not depend on it.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"missing seismic volume {path}")
    try:
        import segyio
    except ImportError:
        message = f"reading SEG-Y file {path} needs segyio, which is not installed: pip install segyio"
        raise DataError(message) from None
    try:
        cube = segyio.tools.cube(str(path))
    except Exception as error:
        raise DataError(
            f"cannot read SEG-Y {path} as an inline/crossline cube: {' '.join(str(error).split())}"
        ) from None
    cube = np.asarray(cube)
    if cube.ndim != 3:
        raise DataError(f"SEG-Y {path} gave an array of shape {cube.shape}; expected 3-D (inline, crossline, depth)")
    return SeismicVolume(cube.astype(np.float32, copy=False), None, [], name=path.name)


VOLUME_LOADERS = {".npy": load_volume_npy, ".sgy": load_volume_segy, ".segy": load_volume_segy}


def load_unlabelled_volume(path) -> SeismicVolume:
    """Load a .npy or SEG-Y (.sgy/.segy) volume, chosen by the file suffix (case-insensitive)."""
    path = Path(path).expanduser()
    loader = VOLUME_LOADERS.get(path.suffix.lower())
    if loader is None:
        raise DataError(
            f"unknown seismic volume format {path.suffix or '(no suffix)'!r} for {path}; "
            f"expected one of {', '.join(VOLUME_LOADERS)}"
        )
    return loader(path)


def load_seismic_volume(name: str | None, path: str | None, *, train_only: bool = False) -> dict[str, SeismicVolume]:
    """The ``seismic_volume`` source: ``{"volume": the unlabelled volume at path}`` (pretext data only: the
    seismic domain refuses it as downstream data before loading it). ``name`` and ``train_only`` change nothing."""
    if not path:
        raise DataError(f"source 'seismic_volume' needs a path (got path={path!r})")
    return {"volume": load_unlabelled_volume(path)}


# --- sections and patches -----------------------------------------------------------------------------------


def _checked_inlines(inlines, n_inline: int) -> np.ndarray:
    if inlines is None:
        return np.arange(n_inline, dtype=np.int64)
    inlines = np.asarray(inlines)
    if inlines.ndim != 1 or len(inlines) == 0 or not np.issubdtype(inlines.dtype, np.integer):
        raise ValueError(f"inlines must be a non-empty 1-D integer array, got {inlines.dtype} shape {inlines.shape}")
    if inlines.min() < 0 or inlines.max() >= n_inline:
        raise ValueError(f"inlines span [{inlines.min()}, {inlines.max()}] but the volume has {n_inline} inlines")
    if len(np.unique(inlines)) != len(inlines):
        raise ValueError("inlines contain duplicates")
    return np.sort(inlines).astype(np.int64)


def sections(
    volume: SeismicVolume,
    inlines: np.ndarray | None = None,
    orientation: Literal["inline", "crossline", "both"] = "inline",
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """2-D sections of ``volume`` as images: x (n, 1, depth, width) float32, y (n, depth, width) int64 or None,
    and origin (n, 2) int64 = (orientation code, index) with code 0 = inline, 1 = crossline.

    ``inlines`` (default: all) restricts the data to those inlines, used in increasing order: the inline
    sections are those inlines, and each crossline section keeps only their columns, so sections taken
    from the blocks of :func:`selfsup.data.seismic.inline_blocks.inline_block_split` never share a voxel.

    Widths: inline sections are n_crossline wide, crossline sections len(inlines) wide. ``"both"`` stacks
    inline then crossline sections and so needs the two widths equal; otherwise it raises ValueError, and
    the caller should take each orientation separately and cut them with :func:`patches`.
    """
    if orientation not in ("inline", "crossline", "both"):
        raise ValueError(f"orientation must be 'inline', 'crossline' or 'both', got {orientation!r}")
    n_inline, n_crossline, n_depth = volume.shape
    inlines = _checked_inlines(inlines, n_inline)
    if orientation == "both" and len(inlines) != n_crossline:
        raise ValueError(
            f"orientation 'both' needs inline and crossline sections of one width, but inline "
            f"sections are {n_crossline} wide and crossline sections {len(inlines)}; take each "
            "orientation separately and cut patches"
        )
    parts = []  # (x, y, origin) per orientation
    if orientation in ("inline", "both"):
        # (k, crossline, depth) -> (k, depth, crossline)
        x = volume.amplitude[inlines].transpose(0, 2, 1)
        y = None if volume.labels is None else volume.labels[inlines].transpose(0, 2, 1)
        parts.append((x, y, ORIENTATION_CODES["inline"], inlines))
    if orientation in ("crossline", "both"):
        # (k_inline, crossline, depth) -> (crossline, depth, k_inline)
        x = volume.amplitude[inlines].transpose(1, 2, 0)
        y = None if volume.labels is None else volume.labels[inlines].transpose(1, 2, 0)
        parts.append((x, y, ORIENTATION_CODES["crossline"], np.arange(n_crossline, dtype=np.int64)))
    x = np.ascontiguousarray(np.concatenate([p[0] for p in parts]), dtype=np.float32)[:, None]
    y = None if volume.labels is None else np.ascontiguousarray(np.concatenate([p[1] for p in parts]), dtype=np.int64)
    origin = np.concatenate(
        [np.stack([np.full(len(index), code, np.int64), index], axis=1) for _, _, code, index in parts]
    )
    return x, y, origin


def patches(
    x: np.ndarray,
    y: np.ndarray | None,
    size: int,
    stride: int,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Cut sections x (n, C, H, W) (and label maps y (n, H, W)) into square size x size patches.

    Patch corners run every ``stride`` pixels from 0 in both directions, plus one patch aligned to the
    bottom / right edge when the stride would leave pixels out (:func:`selfsup.data.windows.window_starts`),
    so every pixel lies in some patch. Returns x (m, C, size, size), y (m, size, size) or None, and
    source (m, 3) int64 = (section index, top, left), ordered by section, then top, then left.
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"sections x must be 4-D (n, channels, height, width), got shape {x.shape}")
    n, channels, height, width = x.shape
    if y is not None:
        y = np.asarray(y)
        if y.shape != (n, height, width):
            raise ValueError(f"label maps y of shape {y.shape} do not match sections x of shape {x.shape}")
    if size < 1 or stride < 1:
        raise ValueError(f"patch size and stride must be at least 1, got size={size}, stride={stride}")
    if size > height or size > width:
        raise ValueError(f"patch size {size} exceeds the sections' height x width {height} x {width}")
    tops, lefts = window_starts(height, size, stride), window_starts(width, size, stride)
    corners = [(top, left) for top in tops for left in lefts]
    # (n, corners, C, size, size): one slice per corner over all sections at once, then section-major order
    x_patches = np.stack([x[:, :, top : top + size, left : left + size] for top, left in corners], axis=1)
    x_patches = x_patches.reshape(n * len(corners), channels, size, size).astype(np.float32, copy=False)
    y_patches = None
    if y is not None:
        y_patches = np.stack([y[:, top : top + size, left : left + size] for top, left in corners], axis=1)
        y_patches = y_patches.reshape(n * len(corners), size, size).astype(np.int64, copy=False)
    corner_array = np.asarray(corners, dtype=np.int64).reshape(-1, 2)
    source = np.concatenate(
        [np.repeat(np.arange(n, dtype=np.int64), len(corners))[:, None], np.tile(corner_array, (n, 1))], axis=1
    )
    return x_patches, y_patches, source
