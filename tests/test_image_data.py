"""Image data: the ``ImageSet`` type and its validation carve-out, scikit-learn's digits, CIFAR-10/100 written
by the tests in the real pickle format (vouched for by their md5s in ``checksums``; anything else must match
the official archive before it is unpickled), class-per-folder PNG trees and a small Tiny-ImageNet-200 tree."""

from __future__ import annotations

import hashlib
import pickle

import numpy as np
import pytest
from PIL import Image

from selfsup.data.errors import DataError
from selfsup.data.images.cifar import load_cifar10, load_cifar100
from selfsup.data.images.digits import load_digits_images
from selfsup.data.images.image_folder import load_image_folder, load_tiny_imagenet
from selfsup.data.images.image_sets import ImageSet, carve_image_validation

# --- ImageSet ----------------------------------------------------------------------------------------------


def test_image_set_checks_its_shape_and_labels():
    images = np.zeros((3, 1, 4, 4), np.float32)
    with pytest.raises(DataError, match="shape"):
        ImageSet(np.zeros((3, 4, 4), np.float32), None, [], "flat")
    with pytest.raises(DataError, match="3 images but 2 labels"):
        ImageSet(images, np.array([0, 1]), ["a", "b"], "short")
    with pytest.raises(DataError, match="only 2 class names"):
        ImageSet(images, np.array([0, 1, 2]), ["a", "b"], "names")
    with pytest.raises(DataError, match="integer"):
        ImageSet(images, np.array([0.0, 1.0, 1.0]), ["a", "b"], "floats")
    subset = ImageSet(images, np.array([0, 1, 1]), ["a", "b"], "ok").subset([2, 0])
    assert (len(subset), subset.n_channels, subset.labels.tolist()) == (2, 1, [1, 0])
    assert subset.labels.dtype == np.int64 and subset.class_names == ["a", "b"] and subset.name == "ok"


# --- digits ------------------------------------------------------------------------------------------------


def test_digits_are_8x8_in_unit_range_with_a_fixed_stratified_split():
    splits = load_digits_images("digits", None)
    train, test = splits["train"], splits["test"]
    assert set(splits) == {"train", "test"}
    assert train.images.shape == (1347, 1, 8, 8) and test.images.shape == (450, 1, 8, 8)
    assert train.images.dtype == np.float32 and train.labels.dtype == np.int64
    assert train.images.min() == 0.0 and train.images.max() == 1.0 and test.images.max() <= 1.0
    assert train.class_names == test.class_names == [str(d) for d in range(10)]
    assert set(train.labels.tolist()) == set(test.labels.tolist()) == set(range(10))
    # stratified: each class has about a quarter of its images in test
    shares = np.bincount(test.labels) / (np.bincount(test.labels) + np.bincount(train.labels))
    assert np.all(np.abs(shares - 0.25) < 0.02)
    again = load_digits_images(None, None, train_only=True)
    assert set(again) == {"train"}
    assert np.array_equal(again["train"].images, train.images) and np.array_equal(again["train"].labels, train.labels)


# --- CIFAR -------------------------------------------------------------------------------------------------


def _pickle(file, content):
    with open(file, "wb") as handle:
        pickle.dump(content, handle)


def _pixels(count, offset):
    """uint8 rows of 3072 values as the archives store them (all red, then green, then blue, row-major)."""
    return ((np.arange(count * 3072).reshape(count, 3072) + offset) % 256).astype(np.uint8)


def _write_cifar10(root):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for batch in range(1, 6):
        _pickle(
            folder / f"data_batch_{batch}",
            {
                "batch_label": f"training batch {batch} of 5",
                "labels": [batch - 1, batch + 4],
                "data": _pixels(2, batch),
                "filenames": ["a.png", "b.png"],
            },
        )
    _pickle(
        folder / "test_batch",
        {
            "batch_label": "testing batch 1 of 1",
            "labels": [9, 0, 3],
            "data": _pixels(3, 7),
            "filenames": ["c.png", "d.png", "e.png"],
        },
    )
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    _pickle(folder / "batches.meta", {"num_cases_per_batch": 2, "label_names": names, "num_vis": 3072})
    return folder, names


def _md5s(folder) -> dict[str, str]:
    """The md5 of every file in ``folder``: what a user who made (and trusts) the copy puts in ``checksums``."""
    return {file.name: hashlib.md5(file.read_bytes()).hexdigest() for file in sorted(folder.iterdir())}


def test_a_local_cifar10_copy_the_user_vouches_for_loads(tmp_path):
    folder, names = _write_cifar10(tmp_path)
    splits = load_cifar10("cifar10", str(tmp_path), checksums=_md5s(folder))
    train, test = splits["train"], splits["test"]
    assert train.images.shape == (10, 3, 32, 32) and test.images.shape == (3, 3, 32, 32)
    assert train.images.dtype == np.float32 and 0 <= train.images.min() and train.images.max() <= 1
    assert train.labels.tolist() == [0, 5, 1, 6, 2, 7, 3, 8, 4, 9] and test.labels.tolist() == [9, 0, 3]
    assert train.class_names == test.class_names == names
    # channel-major rows become (channel, row, column): pixel (c, y, x) is value c*1024 + y*32 + x
    rows = _pixels(2, 1)
    assert np.allclose(train.images[1, 2, 5, 7], rows[1, 2 * 1024 + 5 * 32 + 7] / 255)
    assert np.allclose(train.images[0].reshape(-1), rows[0] / 255)
    # the extracted folder itself is accepted too; train_only reads only the batches
    assert set(load_cifar10(None, str(folder), train_only=True, checksums=_md5s(folder))) == {"train"}


def test_a_local_cifar100_copy_uses_the_fine_labels(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    _pickle(
        folder / "train",
        {
            "filenames": ["a", "b", "c", "d"],
            "batch_label": "training batch 1 of 1",
            "fine_labels": [0, 99, 42, 7],
            "coarse_labels": [4, 1, 2, 3],
            "data": _pixels(4, 0),
        },
    )
    _pickle(
        folder / "test",
        {
            "filenames": ["e", "f"],
            "batch_label": "testing batch 1 of 1",
            "fine_labels": [1, 2],
            "coarse_labels": [0, 0],
            "data": _pixels(2, 3),
        },
    )
    fine_names = [f"fine{i}" for i in range(100)]
    _pickle(folder / "meta", {"fine_label_names": fine_names, "coarse_label_names": [f"c{i}" for i in range(20)]})
    splits = load_cifar100("cifar100", str(tmp_path), checksums=_md5s(folder))
    assert splits["train"].images.shape == (4, 3, 32, 32) and splits["test"].images.shape == (2, 3, 32, 32)
    assert splits["train"].labels.tolist() == [0, 99, 42, 7] and splits["test"].labels.tolist() == [1, 2]
    assert splits["train"].class_names == splits["test"].class_names == fine_names
    assert splits["train"].name == "cifar100"


def test_missing_cifar_files_name_the_folder_and_the_download(tmp_path):
    with pytest.raises(DataError, match="cifar-10-batches-py") as missing:
        load_cifar10("cifar10", str(tmp_path))
    message = str(missing.value)
    assert str(tmp_path / "cifar-10-batches-py") in message and "\n" not in message
    assert "data_batch_1..5, test_batch" in message and "https://www.cs.toronto.edu/~kriz/cifar.html" in message
    with pytest.raises(DataError, match=r"cifar-100-python \(looked for train, test, meta\)"):
        load_cifar100("cifar100", str(tmp_path))
    folder, _ = _write_cifar10(tmp_path)
    (folder / "test_batch").unlink()
    with pytest.raises(DataError, match="missing test_batch"):
        load_cifar10("cifar10", str(tmp_path))
    (folder / "test_batch").write_bytes(b"not a pickle")  # vouched for, but not a pickle: still one line
    with pytest.raises(DataError, match="cannot read the test files") as unreadable:
        load_cifar10("cifar10", str(tmp_path), checksums=_md5s(folder))
    assert "\n" not in str(unreadable.value)


class _OpensAFile:
    """Unpickled, this calls ``open(marker, "w")``: what a crafted batch file can make ``pickle.load`` do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def _crafted_cifar10(root, marker) -> dict[str, str]:
    """A small CIFAR-10 copy whose ``data_batch_1`` runs code when unpickled; the md5s of the other files."""
    folder, _ = _write_cifar10(root)
    _pickle(folder / "data_batch_1", _OpensAFile(marker))
    return {file: md5 for file, md5 in _md5s(folder).items() if file != "data_batch_1"}


def test_a_crafted_cifar_batch_is_refused_by_its_checksum_before_it_is_unpickled(tmp_path):
    from torchvision.datasets import CIFAR10

    marker = tmp_path / "code-ran"
    others = _crafted_cifar10(tmp_path / "root", marker)
    published = dict(CIFAR10.train_list)["data_batch_1"]
    for checksums in (others, None):  # the other files vouched for, or nothing: the official md5 is asked for
        with pytest.raises(DataError) as refused:
            load_cifar10("cifar10", str(tmp_path / "root"), train_only=True, checksums=checksums)
        message = str(refused.value)
        assert "data_batch_1" in message and published in message and "\n" not in message
        assert "not the official archive's file" in message and "checksums" in message
        assert "cifar-10-python.tar.gz" in message  # what to do: extract the archive again
        assert not marker.exists()


def test_torchvision_itself_checks_the_same_md5s_before_it_unpickles(tmp_path, monkeypatch):
    import selfsup.data.images.cifar as cifar

    marker = tmp_path / "code-ran"
    others = _crafted_cifar10(tmp_path / "root", marker)
    monkeypatch.setattr(cifar, "_verify", lambda *args: None)  # without our own check, torchvision's still refuses
    with pytest.raises(DataError, match="cannot read the train files .* corrupted"):
        load_cifar10("cifar10", str(tmp_path / "root"), train_only=True, checksums=others)
    assert not marker.exists()


def test_a_wrong_checksums_entry_is_one_line_naming_the_file(tmp_path):
    folder, _ = _write_cifar10(tmp_path)
    checksums = {**_md5s(folder), "test_batch": "0" * 32}
    with pytest.raises(DataError) as wrong:
        load_cifar10("cifar10", str(tmp_path), checksums=checksums)
    message = str(wrong.value)
    assert message.startswith(f"cifar10: test_batch under {folder} does not have the md5 its options.checksums")
    assert "0" * 32 in message and "\n" not in message
    # A name that is not one of the source's files is refused too, listing the files.
    with pytest.raises(
        DataError,
        match=r"options.checksums names data_batch_6, which is not a file of "
        r"cifar-10-batches-py/ \(data_batch_1, .*batches.meta\)",
    ):
        load_cifar10("cifar10", str(tmp_path), checksums={**_md5s(folder), "data_batch_6": "0" * 32})


def test_cifar_checksums_reach_the_loader_from_the_sweep_spec(tmp_path):
    from selfsup.data.dataset_specs import same_dataset
    from selfsup.domains.base import DatasetSpec
    from selfsup.domains.images import load_image_splits

    folder, _ = _write_cifar10(tmp_path)
    md5s = _md5s(folder)
    upper = {file: md5.upper() for file, md5 in reversed(md5s.items())}
    spec = DatasetSpec(source="cifar10", path=str(tmp_path), options={"checksums": upper})
    assert spec.options == {"checksums": md5s}  # lower-cased, in one order
    assert same_dataset(spec, DatasetSpec(source="cifar10", path=str(tmp_path), options={"checksums": md5s}))
    assert load_image_splits(spec, train_only=True)["train"].images.shape == (10, 3, 32, 32)
    assert len(load_image_splits(spec.model_dump(mode="json"))["test"]) == 3  # as the data cache's actor gets it
    with pytest.raises(DataError, match="data_batch_1 under .* is not the official archive's file"):
        load_image_splits(DatasetSpec(source="cifar10", path=str(tmp_path)), train_only=True)
    with pytest.raises(ValueError, match=r"options of source 'cifar100': checksums.train: should be an md5"):
        DatasetSpec(source="cifar100", path=str(tmp_path), options={"checksums": {"train": "not an md5"}})
    with pytest.raises(ValueError, match=r"options of source 'cifar10': .*md5s"):
        DatasetSpec(source="cifar10", path=str(tmp_path), options={"md5s": {}})


# --- class-per-folder trees --------------------------------------------------------------------------------


def _png(file, mode="RGB", size=(6, 5), value=0):
    file.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, (value, 0, 255) if mode == "RGB" else value).save(file)


def test_an_image_folder_tree_loads_with_one_class_mapping(tmp_path):
    _png(tmp_path / "train" / "cat" / "1.png", value=255)
    _png(tmp_path / "train" / "cat" / "2.png")
    _png(tmp_path / "train" / "dog" / "1.png", mode="L", value=51)  # grayscale among RGB: converted to RGB
    _png(tmp_path / "val" / "dog" / "1.png")
    _png(tmp_path / "test" / "dog" / "1.jpg")  # test lacks "cat": indices go by name
    splits = load_image_folder("pets", str(tmp_path))
    assert set(splits) == {"train", "validation", "test"}
    train = splits["train"]
    assert train.images.shape == (3, 3, 5, 6) and train.images.dtype == np.float32
    assert train.class_names == splits["test"].class_names == ["cat", "dog"] and train.name == "pets"
    assert train.labels.tolist() == [0, 0, 1]
    assert splits["validation"].labels.tolist() == splits["test"].labels.tolist() == [1]
    assert np.allclose(train.images[0, :, 0, 0], [1, 0, 1]) and np.allclose(train.images[2], 0.2)
    assert set(load_image_folder("pets", str(tmp_path), train_only=True)) == {"train"}


def test_an_all_grayscale_tree_has_one_channel_and_size_resizes(tmp_path):
    _png(tmp_path / "train" / "a" / "1.png", mode="L", size=(4, 4), value=255)
    _png(tmp_path / "test" / "a" / "1.png", mode="L", size=(8, 6), value=255)
    with pytest.raises(DataError, match=r"differ in size .*4x4 \(1 image,.*8x6 .*size=N"):
        load_image_folder(None, str(tmp_path))
    with pytest.raises(DataError, match="differ in size"):  # train_only fails where the full load would
        load_image_folder(None, str(tmp_path), train_only=True)
    splits = load_image_folder(None, str(tmp_path), size=3)
    assert splits["train"].images.shape == splits["test"].images.shape == (1, 1, 3, 3)
    assert np.allclose(splits["test"].images, 1.0) and splits["train"].name == tmp_path.name


def test_image_folder_errors_name_the_culprit(tmp_path):
    with pytest.raises(DataError, match="no folder .*train"):
        load_image_folder(None, str(tmp_path))
    _png(tmp_path / "train" / "cat" / "1.png")
    _png(tmp_path / "test" / "cat" / "1.png")
    _png(tmp_path / "test" / "zebra" / "1.png")
    with pytest.raises(DataError, match=r"class folder\(s\) zebra under .*test"):
        load_image_folder(None, str(tmp_path))
    (tmp_path / "test" / "zebra" / "1.png").unlink()
    with pytest.raises(DataError, match="no valid file for the classes zebra"):
        load_image_folder(None, str(tmp_path))
    (tmp_path / "test" / "zebra").rmdir()
    (tmp_path / "train" / "cat" / "2.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match="cannot read image .*2.png"):
        load_image_folder(None, str(tmp_path))


# --- Tiny-ImageNet-200 -------------------------------------------------------------------------------------


def _write_tiny_imagenet(root):
    wnids = ["n02124075", "n01443537", "n09999999"]  # not sorted, as in the real wnids.txt
    root.mkdir(parents=True)
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    (root / "words.txt").write_text(
        "n01443537\tgoldfish, Carassius auratus\nn02124075\tEgyptian cat\nn00001740\tentity\n"
    )
    for number, wnid in enumerate(wnids):
        for i in range(2):
            _png(root / "train" / wnid / "images" / f"{wnid}_{i}.JPEG", size=(64, 64), value=40 * number)
        (root / "train" / wnid / f"{wnid}_boxes.txt").write_text("ignored\n")
    annotations = [("val_0.JPEG", "n09999999"), ("val_1.JPEG", "n01443537"), ("val_2.JPEG", "n02124075")]
    for file_name, _ in annotations:
        _png(root / "val" / "images" / file_name, mode="L", size=(64, 64))  # grayscale files become RGB
    (root / "val" / "val_annotations.txt").write_text(
        "".join(f"{file_name}\t{wnid}\t0\t0\t63\t63\n" for file_name, wnid in annotations)
    )
    _png(root / "test" / "images" / "test_0.JPEG", size=(64, 64))  # unlabelled: never read


def test_a_tiny_imagenet_tree_returns_val_as_test(tmp_path):
    _write_tiny_imagenet(tmp_path / "tiny-imagenet-200")
    splits = load_tiny_imagenet(None, str(tmp_path))  # the folder holding tiny-imagenet-200 is accepted too
    train, test = splits["train"], splits["test"]
    assert set(splits) == {"train", "test"}
    assert train.images.shape == (6, 3, 64, 64) and test.images.shape == (3, 3, 64, 64)
    # classes are the sorted wnids, named by words.txt where it has them
    assert train.class_names == test.class_names == ["goldfish, Carassius auratus", "Egyptian cat", "n09999999"]
    assert train.labels.tolist() == [0, 0, 1, 1, 2, 2] and test.labels.tolist() == [2, 0, 1]
    assert np.allclose(train.images[0, 0], 40 / 255, atol=2 / 255) and train.name == "tiny-imagenet-200"


def test_tiny_imagenet_errors_name_the_path_and_the_download(tmp_path):
    with pytest.raises(DataError, match=r"missing .*wnids\.txt.*cs231n\.stanford\.edu/tiny-imagenet-200\.zip"):
        load_tiny_imagenet(None, str(tmp_path / "nowhere"))
    root = tmp_path / "tiny"
    _write_tiny_imagenet(root)
    with open(root / "val" / "val_annotations.txt", "a") as handle:
        handle.write("val_3.JPEG\tn00000001\t0\t0\t1\t1\n")
    with pytest.raises(DataError, match="line 4 labels val_3.JPEG with n00000001, which is not in"):
        load_tiny_imagenet(None, str(root))


# --- validation carve-out ----------------------------------------------------------------------------------


def test_carve_image_validation_is_stratified_and_seeded():
    labels = np.array([0] * 20 + [1] * 10 + [2])  # class 2 has a single image: it stays in train
    images = np.arange(len(labels), dtype=np.float32).reshape(-1, 1, 1, 1)
    train = ImageSet(images, labels, ["a", "b", "c"], "toy")
    kept, validation = carve_image_validation(train, 0.2, seed=3)
    assert np.bincount(validation.labels, minlength=3).tolist() == [4, 2, 0]
    assert np.bincount(kept.labels, minlength=3).tolist() == [16, 8, 1]
    assert sorted(kept.images.ravel().tolist() + validation.images.ravel().tolist()) == list(range(31))
    again, _ = carve_image_validation(train, 0.2, seed=3)
    other, _ = carve_image_validation(train, 0.2, seed=4)
    assert np.array_equal(again.images, kept.images) and not np.array_equal(other.images, kept.images)
    # a tiny fraction still holds out one image per class
    assert np.bincount(carve_image_validation(train, 0.01, seed=0)[1].labels, minlength=3).tolist() == [1, 1, 0]
    with pytest.raises(DataError, match="every class has a single image"):
        carve_image_validation(ImageSet(images[:2], np.array([0, 1]), ["a", "b"], "pair"), 0.5, seed=0)
    unlabelled_kept, unlabelled_validation = carve_image_validation(ImageSet(images, None, [], "u"), 0.1, seed=0)
    assert (len(unlabelled_kept), len(unlabelled_validation)) == (28, 3)
