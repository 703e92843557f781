"""CIFAR-10 and CIFAR-100 from a local copy of the "python version" archives, read by torchvision.

Krizhevsky's archives (https://www.cs.toronto.edu/~kriz/cifar.html) extract to ``cifar-10-batches-py/``
(``data_batch_1..5``, ``test_batch``, ``batches.meta``) and ``cifar-100-python/`` (``train``, ``test``,
``meta``); ``path`` is the folder that holds them (torchvision's ``root``), or that folder itself. We never
download (runs are offline): a missing copy is a one-line ``DataError`` that says where to get it.

torchvision's ``CIFAR10``/``CIFAR100`` parse the pickles, but refuse any file whose md5 differs from the
official archive's. Our subclasses keep the parsing and only ask that the files exist: a user's copy may be
re-packed (the same arrays pickled again), and the tests write small files in the same format. CIFAR-100
labels are the 100 fine classes (torchvision's default), not the 20 superclasses.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from selfsup.data.errors import DataError
from selfsup.data.image_sets import ImageSet, ImageSplits

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"


def _without_md5(files: list[list]) -> list[list]:
    return [[file_name, None] for file_name, _ in files]


def _existence_checked(base):
    """A subclass of torchvision's ``base`` (CIFAR10/CIFAR100) whose integrity check only asks that files exist.

    torchvision's ``check_integrity(path, md5=None)`` checks that the file exists and skips the md5, so
    clearing the checksums is all it takes; the file names and parsing stay torchvision's.
    """
    class ExistenceChecked(base):
        train_list = _without_md5(base.train_list)
        test_list = _without_md5(base.test_list)
        meta = {**base.meta, "md5": None}

    return ExistenceChecked


def _cifar_files(dataset_class) -> list[str]:
    return [name for name, _ in dataset_class.train_list + dataset_class.test_list] + [dataset_class.meta["filename"]]


def _load_cifar(source: str, files_title: str, looked_for: str, base, name: str | None, path: str | None,
                train_only: bool) -> ImageSplits:
    """Shared body of the two loaders; ``source`` names the loader in messages, ``files_title`` its files."""
    if not path:
        raise DataError(f"source '{source}' needs a path (the folder holding {base.base_folder}/); "
                        f"download {base.filename} from {CIFAR_URL} and extract it there")
    root = Path(path).expanduser()
    if root.name == base.base_folder:  # the user pointed at the extracted folder itself
        root = root.parent
    folder = root / base.base_folder
    missing = [file for file in _cifar_files(base) if not (folder / file).is_file()]
    if missing:
        # Checked here rather than by catching torchvision's RuntimeError, so the message can list what is absent.
        partly = "" if len(missing) == len(_cifar_files(base)) else f"; missing {', '.join(missing)}"
        raise DataError(f"{source}: no {files_title} under {folder} (looked for {looked_for}{partly}); "
                        f"download {base.filename} from {CIFAR_URL} and extract it there")
    dataset_class = _existence_checked(base)
    splits = {"train": True} if train_only else {"train": True, "test": False}
    loaded = {}
    for split, is_train in splits.items():
        try:
            dataset = dataset_class(root=str(root), train=is_train, download=False)
        except Exception as error:  # a truncated or foreign pickle: report it as a data problem, on one line
            message = " ".join(str(error).split())
            raise DataError(f"{source}: cannot read the {split} files under {folder}: {message}") from None
        # torchvision holds uint8 (n, 32, 32, 3); we want float32 (n, 3, 32, 32) in [0, 1].
        images = np.ascontiguousarray(dataset.data.transpose(0, 3, 1, 2), dtype=np.float32)
        images /= 255.0
        loaded[split] = ImageSet(images, np.asarray(dataset.targets, dtype=np.int64), list(dataset.classes),
                                 name or source)
    return loaded


def load_cifar10(name: str | None = None, path: str | None = None, *, train_only: bool = False) -> ImageSplits:
    """CIFAR-10 train (50,000) and test (10,000): (n, 3, 32, 32) float32 in [0, 1], the 10 class names."""
    from torchvision.datasets import CIFAR10

    return _load_cifar("cifar10", "CIFAR-10 python batches", "data_batch_1..5, test_batch, batches.meta", CIFAR10, name, path,
                       train_only)


def load_cifar100(name: str | None = None, path: str | None = None, *, train_only: bool = False) -> ImageSplits:
    """CIFAR-100 train (50,000) and test (10,000): (n, 3, 32, 32) float32 in [0, 1], the 100 fine class names."""
    from torchvision.datasets import CIFAR100

    return _load_cifar("cifar100", "CIFAR-100 python files", "train, test, meta", CIFAR100, name, path, train_only)
