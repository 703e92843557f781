"""Image files on disk as ``ImageSet`` sources: any class-per-folder tree, and the Tiny-ImageNet-200 layout.

``load_image_folder`` reads ``<path>/train/<class>/<image>`` and ``<path>/test/<class>/<image>`` (plus an
optional ``<path>/val/<class>/<image>``, returned as "validation") through torchvision's ``ImageFolder``
(https://pytorch.org/vision/stable/generated/torchvision.datasets.ImageFolder.html), which finds the
class folders (sorted names) and their image files (torchvision's ``IMG_EXTENSIONS``, any depth). The
classes are the training folders; a test or val class unknown to training is an error, not a new class.

``load_tiny_imagenet`` reads the Tiny-ImageNet-200 archive as extracted (http://cs231n.stanford.edu/,
``tiny-imagenet-200.zip``): ``wnids.txt`` (the 200 WordNet ids), optional ``words.txt`` (id -> names),
``train/<wnid>/images/*.JPEG`` and ``val/images/*.JPEG`` labelled by ``val/val_annotations.txt``. Its test
images carry no labels, so, as the reference report did, the labelled val split is returned as "test".

Every image of a data set (all splits, so their channel counts agree) is converted to one mode: "L" when
every file is 8-bit grayscale (modes 1, L, LA), else "RGB" (alpha is dropped). Sizes must agree unless
``size`` is given, in which case every image is resized to ``size`` x ``size`` (bilinear, aspect ratio
not kept). Modes and sizes are read from the file headers of all splits before anything is decoded, so
``train_only`` gives the same channels and size as a full load, and fails wherever a full load would.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from selfsup.data.errors import DataError
from selfsup.data.images.image_sets import ImageSet, ImageSplits

TINY_IMAGENET_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
_GRAYSCALE_MODES = {"1", "L", "LA"}
_SPLIT_FOLDERS = {"train": "train", "validation": "val", "test": "test"}  # split -> folder under path


# --- reading image files into one array ----------------------------------------------------------------------


def _header(source: str, file: Path) -> tuple[str, tuple[int, int]]:
    """(PIL mode, (width, height)) of one image; ``Image.open`` reads only the header, not the pixels."""
    from PIL import Image

    try:
        with Image.open(file) as image:
            return image.mode, image.size
    except (OSError, ValueError) as error:  # PIL's UnidentifiedImageError is an OSError
        raise DataError(f"{source}: cannot read image {file}: {' '.join(str(error).split())}") from None


def _common_size(source: str, root: Path, headers: dict[Path, tuple[str, tuple[int, int]]]) -> tuple[int, int]:
    """The one (width, height) of all images; DataError listing the sizes found when they differ."""
    sizes = Counter(size for _, size in headers.values())
    if len(sizes) == 1:
        return next(iter(sizes))
    example: dict[tuple[int, int], Path] = {}
    for file, (_, size) in headers.items():
        example.setdefault(size, file)
    found = [
        f"{w}x{h} ({count} image{'s' if count > 1 else ''}, e.g. {example[(w, h)]})"
        for (w, h), count in sizes.most_common(5)
    ]
    more = f" and {len(sizes) - 5} more sizes" if len(sizes) > 5 else ""
    raise DataError(
        f"{source}: images under {root} differ in size (width x height: {'; '.join(found)}{more}); "
        "pass size=N to resize them all to N x N"
    )


def _decode(source: str, files: list[Path], mode: str, size: tuple[int, int]) -> np.ndarray:
    """float32 (n, channels, height, width) in [0, 1], every file converted to ``mode`` and resized to ``size``."""
    from PIL import Image

    width, height = size
    channels = 1 if mode == "L" else 3
    images = np.empty((len(files), channels, height, width), dtype=np.float32)  # filled in place: no 2nd copy
    for i, file in enumerate(files):
        try:
            with Image.open(file) as image:
                image = image.convert(mode)
                if image.size != size:
                    image = image.resize(size, Image.Resampling.BILINEAR)
                pixels = np.asarray(image, dtype=np.float32)
        except (OSError, ValueError) as error:  # a truncated file shows up only when the pixels are decoded
            raise DataError(f"{source}: cannot decode image {file}: {' '.join(str(error).split())}") from None
        images[i] = pixels.reshape(height, width, channels).transpose(2, 0, 1)
    images /= 255.0
    return images


def _read_images(
    source: str,
    root: Path,
    files: dict[str, list[Path]],
    labels: dict[str, list[int]],
    class_names: list[str],
    name: str,
    *,
    size: int | None,
    mode: str | None,
    train_only: bool,
) -> ImageSplits:
    """ImageSets of the splits in ``files``: one mode and size over all of them, decoding only train if asked."""
    headers = {file: _header(source, file) for split_files in files.values() for file in split_files}
    if mode is None:
        mode = "L" if all(file_mode in _GRAYSCALE_MODES for file_mode, _ in headers.values()) else "RGB"
    target_size = (size, size) if size is not None else _common_size(source, root, headers)
    decoded = {"train": files["train"]} if train_only else files
    return {
        split: ImageSet(
            _decode(source, split_files, mode, target_size),
            np.asarray(labels[split], dtype=np.int64),
            class_names,
            name,
        )
        for split, split_files in decoded.items()
    }


def _check_size(source: str, size: int | None) -> None:
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise DataError(f"{source}: size must be a positive whole number of pixels, got {size!r}")


def _image_folder(source: str, folder: Path):
    """torchvision's ``ImageFolder`` over ``folder`` (finds classes and files; decodes nothing yet)."""
    from torchvision.datasets import ImageFolder

    try:
        return ImageFolder(str(folder))
    except FileNotFoundError as error:  # no class folders, or a class folder with no image files
        raise DataError(f"{source}: {folder}: {' '.join(str(error).split())}") from None


# --- any class-per-folder tree -------------------------------------------------------------------------------


def load_image_folder(
    name: str | None, path: str | None, *, train_only: bool = False, size: int | None = None
) -> ImageSplits:
    """Train, test and (when ``<path>/val`` exists) validation from ``<path>/<split>/<class>/<image>``.

    Classes are the folder names under ``train/`` in sorted order, shared by every split. ``size`` resizes
    every image to ``size`` x ``size``; without it, images of different sizes are an error.
    """
    _check_size("image_folder", size)
    if not path:
        raise DataError(
            f"source 'image_folder' needs a path holding train/<class>/ and test/<class>/ (got path={path!r})"
        )
    root = Path(path).expanduser()
    for required in ("train", "test"):
        if not (root / required).is_dir():
            raise DataError(
                f"image_folder: no folder {root / required} "
                f"(expected {root}/train/<class>/<image> and {root}/test/<class>/<image>)"
            )
    present = {split: root / folder for split, folder in _SPLIT_FOLDERS.items() if (root / folder).is_dir()}
    folders = {split: _image_folder("image_folder", folder) for split, folder in present.items()}
    class_names = list(folders["train"].classes)
    class_index = {class_name: i for i, class_name in enumerate(class_names)}
    files, labels = {}, {}
    for split, folder in folders.items():
        unknown = [class_name for class_name in folder.classes if class_name not in class_index]
        if unknown:
            raise DataError(
                f"image_folder: class folder(s) {', '.join(unknown)} under {present[split]} "
                f"are not among the training classes under {present['train']}"
            )
        # A split may lack some training classes, so its own indices are mapped back through the class names.
        files[split] = [Path(file) for file, _ in folder.samples]
        labels[split] = [class_index[folder.classes[target]] for _, target in folder.samples]
    return _read_images(
        "image_folder", root, files, labels, class_names, name or root.name, size=size, mode=None, train_only=train_only
    )


# --- Tiny-ImageNet-200 ---------------------------------------------------------------------------------------


def _tiny_missing(what: Path, root: Path) -> DataError:
    return DataError(
        f"tiny_imagenet: missing {what} (is {root} the extracted tiny-imagenet-200 folder?); "
        f"download {TINY_IMAGENET_URL} and extract it there"
    )


def _read_tab_separated(file: Path) -> list[list[str]]:
    with file.open(encoding="utf-8", errors="replace") as handle:
        return [line.rstrip("\r\n").split("\t") for line in handle if line.strip()]


def load_tiny_imagenet(
    name: str | None, path: str | None, *, train_only: bool = False, size: int | None = None
) -> ImageSplits:
    """Tiny-ImageNet-200: train (100,000) and the labelled val (10,000) as "test", 64x64 RGB in [0, 1].

    ``path`` is the extracted ``tiny-imagenet-200`` folder (or the folder holding it). Classes are the
    wnids of ``wnids.txt`` in sorted order (as ``ImageFolder`` indexes ``train/``); their names come from
    ``words.txt`` (e.g. "goldfish, Carassius auratus") when it is there, else they are the wnids.
    """
    _check_size("tiny_imagenet", size)
    if not path:
        raise DataError(
            f"source 'tiny_imagenet' needs a path (the extracted tiny-imagenet-200 folder); "
            f"download {TINY_IMAGENET_URL} and extract it"
        )
    root = Path(path).expanduser()
    if not (root / "wnids.txt").is_file() and (root / "tiny-imagenet-200" / "wnids.txt").is_file():
        root = root / "tiny-imagenet-200"  # the user pointed at the folder the zip was extracted into
    wnids_file, train_folder = root / "wnids.txt", root / "train"
    annotations_file, val_images = root / "val" / "val_annotations.txt", root / "val" / "images"
    for required in (wnids_file, train_folder, annotations_file, val_images):
        if not required.exists():
            raise _tiny_missing(required, root)
    wnids = sorted({row[0].strip() for row in _read_tab_separated(wnids_file)})

    train = _image_folder("tiny_imagenet", train_folder)
    if train.classes != wnids:
        extra = sorted(set(train.classes) - set(wnids))
        absent = sorted(set(wnids) - set(train.classes))
        raise DataError(
            f"tiny_imagenet: the class folders under {train_folder} do not match {wnids_file} "
            f"(not in wnids.txt: {', '.join(extra) or 'none'}; "
            f"no folder: {', '.join(absent) or 'none'})"
        )
    class_index = {wnid: i for i, wnid in enumerate(wnids)}

    val_files, val_labels = [], []
    for line_number, row in enumerate(_read_tab_separated(annotations_file), start=1):
        if len(row) < 2:
            raise DataError(f"tiny_imagenet: {annotations_file} line {line_number} has no tab-separated wnid")
        file_name, wnid = row[0].strip(), row[1].strip()
        if wnid not in class_index:
            raise DataError(
                f"tiny_imagenet: {annotations_file} line {line_number} labels {file_name} "
                f"with {wnid}, which is not in {wnids_file}"
            )
        if not (val_images / file_name).is_file():
            raise DataError(
                f"tiny_imagenet: {annotations_file} line {line_number} names "
                f"{val_images / file_name}, which does not exist"
            )
        val_files.append(val_images / file_name)
        val_labels.append(class_index[wnid])

    words_file = root / "words.txt"
    words = (
        {row[0].strip(): row[1].strip() for row in _read_tab_separated(words_file) if len(row) >= 2}
        if words_file.is_file()
        else {}
    )
    class_names = [words.get(wnid, wnid) for wnid in wnids]
    files = {"train": [Path(file) for file, _ in train.samples], "test": val_files}
    labels = {"train": [target for _, target in train.samples], "test": val_labels}
    # Always RGB, whatever the files: the set is RGB, but a few of its JPEGs are stored as grayscale.
    return _read_images(
        "tiny_imagenet",
        root,
        files,
        labels,
        class_names,
        name or "tiny-imagenet-200",
        size=size,
        mode="RGB",
        train_only=train_only,
    )
