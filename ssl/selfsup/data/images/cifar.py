"""CIFAR-10 and CIFAR-100 from a local copy of the "python version" archives, read by torchvision.

Krizhevsky's archives (https://www.cs.toronto.edu/~kriz/cifar.html) extract to ``cifar-10-batches-py/``
(``data_batch_1..5``, ``test_batch``, ``batches.meta``) and ``cifar-100-python/`` (``train``, ``test``,
``meta``); ``path`` is the folder that holds them (torchvision's ``root``), or that folder itself. We never
download (runs are offline): a missing copy is a one-line ``DataError`` that says where to get it.

The files are pickles, and unpickling a file runs whatever code it names; so every file is checked against
the md5 of the official archive's file (torchvision's own ``train_list``/``test_list``/``meta``, with its
``check_integrity``) before anything is read, and a mismatch is a one-line ``DataError`` naming the file.
A copy that is not the official one (re-packed: the same arrays pickled again; the tests' small files) loads
only if the user vouches for it: the source's ``options: {checksums: {data_batch_1: <md5>, ...}}`` gives,
per file, the md5 to accept instead of the published one (files not named keep the published check).
torchvision's own integrity check then runs with the same values. CIFAR-100 labels are the 100 fine classes
(torchvision's default), not the 20 superclasses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from selfsup.data.errors import DataError
from selfsup.data.images.image_sets import ImageSet, ImageSplits

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"


def _published_md5s(base) -> dict[str, str]:
    """File name -> md5 of that file in the official archive, from torchvision's ``base`` (CIFAR10/CIFAR100)."""
    return {**dict(base.train_list), **dict(base.test_list), base.meta["filename"]: base.meta["md5"]}


def _expected_md5s(source: str, base, checksums: Mapping[str, str] | None) -> dict[str, str]:
    """The md5 each file must have: the published one, or the user's where ``checksums`` names the file."""
    published = _published_md5s(base)
    checksums = {file: md5.lower() for file, md5 in (checksums or {}).items()}
    unknown = sorted(set(checksums) - set(published))
    if unknown:
        raise DataError(
            f"{source}: options.checksums names {', '.join(unknown)}, which is not a file of "
            f"{base.base_folder}/ ({', '.join(published)})"
        )
    return {**published, **checksums}


def _with_md5s(base, expected: Mapping[str, str]):
    """A subclass of torchvision's ``base`` whose integrity check asks for the ``expected`` md5s.

    torchvision checks every file with ``check_integrity(path, md5)`` before it unpickles any; the file names
    and the parsing stay torchvision's.
    """

    class Checked(base):
        train_list = [[file, expected[file]] for file, _ in base.train_list]
        test_list = [[file, expected[file]] for file, _ in base.test_list]
        meta = {**base.meta, "md5": expected[base.meta["filename"]]}

    return Checked


def _verify(source: str, folder: Path, base, expected: Mapping[str, str], vouched: Mapping[str, str]) -> None:
    """Raise a one-line ``DataError`` for the first file whose md5 is not the expected one; reads no pickle."""
    from torchvision.datasets.utils import check_integrity

    for file, md5 in expected.items():
        if check_integrity(str(folder / file), md5):
            continue
        if file in vouched:
            raise DataError(
                f"{source}: {file} under {folder} does not have the md5 its options.checksums entry "
                f"gives ({md5}), so it was not read; check the file, or the md5 you gave for it"
            )
        raise DataError(
            f"{source}: {file} under {folder} is not the official archive's file (expected md5 {md5}), "
            f"so it was not read (unpickling a file can run code): extract {base.filename} from "
            f"{CIFAR_URL} there again, or, only for a copy you made and trust, give its md5 in the "
            f"source's options as checksums: {{{file}: <md5>}}"
        )


def _cifar_files(dataset_class) -> list[str]:
    return [name for name, _ in dataset_class.train_list + dataset_class.test_list] + [dataset_class.meta["filename"]]


def _load_cifar(
    source: str,
    files_title: str,
    looked_for: str,
    base,
    name: str | None,
    path: str | None,
    train_only: bool,
    checksums: Mapping[str, str] | None,
) -> ImageSplits:
    """Shared body of the two loaders; ``source`` names the loader in messages, ``files_title`` its files."""
    if not path:
        raise DataError(
            f"source '{source}' needs a path (the folder holding {base.base_folder}/); "
            f"download {base.filename} from {CIFAR_URL} and extract it there"
        )
    expected = _expected_md5s(source, base, checksums)
    root = Path(path).expanduser()
    if root.name == base.base_folder:  # the user pointed at the extracted folder itself
        root = root.parent
    folder = root / base.base_folder
    missing = [file for file in _cifar_files(base) if not (folder / file).is_file()]
    if missing:
        # Checked here rather than by catching torchvision's RuntimeError, so the message can list what is absent.
        partly = "" if len(missing) == len(_cifar_files(base)) else f"; missing {', '.join(missing)}"
        raise DataError(
            f"{source}: no {files_title} under {folder} (looked for {looked_for}{partly}); "
            f"download {base.filename} from {CIFAR_URL} and extract it there"
        )
    _verify(source, folder, base, expected, {file: expected[file] for file in (checksums or {})})
    dataset_class = _with_md5s(base, expected)
    splits = {"train": True} if train_only else {"train": True, "test": False}
    loaded = {}
    for split, is_train in splits.items():
        try:
            dataset = dataset_class(root=str(root), train=is_train, download=False)
        except Exception as error:  # a vouched-for file that is truncated or foreign: one line, as a data problem
            message = " ".join(str(error).split())
            raise DataError(f"{source}: cannot read the {split} files under {folder}: {message}") from None
        # torchvision holds uint8 (n, 32, 32, 3); we want float32 (n, 3, 32, 32) in [0, 1].
        images = np.ascontiguousarray(dataset.data.transpose(0, 3, 1, 2), dtype=np.float32)
        images /= 255.0
        loaded[split] = ImageSet(
            images, np.asarray(dataset.targets, dtype=np.int64), list(dataset.classes), name or source
        )
    return loaded


def load_cifar10(
    name: str | None = None,
    path: str | None = None,
    *,
    train_only: bool = False,
    checksums: Mapping[str, str] | None = None,
) -> ImageSplits:
    """CIFAR-10 train (50,000) and test (10,000): (n, 3, 32, 32) float32 in [0, 1], the 10 class names.

    ``checksums``: file name -> md5 the user vouches for, accepted instead of the official archive's."""
    from torchvision.datasets import CIFAR10

    return _load_cifar(
        "cifar10",
        "CIFAR-10 python batches",
        "data_batch_1..5, test_batch, batches.meta",
        CIFAR10,
        name,
        path,
        train_only,
        checksums,
    )


def load_cifar100(
    name: str | None = None,
    path: str | None = None,
    *,
    train_only: bool = False,
    checksums: Mapping[str, str] | None = None,
) -> ImageSplits:
    """CIFAR-100 train (50,000) and test (10,000): (n, 3, 32, 32) float32 in [0, 1], the 100 fine class names.

    ``checksums``: file name -> md5 the user vouches for, accepted instead of the official archive's."""
    from torchvision.datasets import CIFAR100

    return _load_cifar(
        "cifar100", "CIFAR-100 python files", "train, test, meta", CIFAR100, name, path, train_only, checksums
    )
