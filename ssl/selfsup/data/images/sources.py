"""The image data sources by name (``ImageDomain.sources``): scikit-learn's digits, CIFAR-10/100 under a local
root, Tiny-ImageNet and any ImageFolder tree. A loader returns ``{"train", "test"[, "validation"]: ImageSet}``."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticCustomError

from selfsup.data.images.cifar import load_cifar10, load_cifar100
from selfsup.data.images.digits import load_digits_images
from selfsup.data.images.image_folder import load_image_folder, load_tiny_imagenet
from selfsup.data.sources import DataSource


def _md5(value: str) -> str:
    if not re.fullmatch(r"[0-9a-fA-F]{32}", value):
        raise PydanticCustomError("md5", "should be an md5 (32 hexadecimal digits), got '{value}'", {"value": value})
    return value.lower()  # as torchvision compares them


class CifarOptions(BaseModel):
    """``options`` of the ``cifar10`` / ``cifar100`` sources. ``checksums``: file name -> md5 of a file the user
    vouches for (a re-packed copy), accepted instead of the official archive's md5 for that file; every other
    file must match the archive. The files are pickles, which run code when read (``selfsup.data.images.cifar``)."""

    model_config = ConfigDict(extra="forbid")

    checksums: dict[str, Annotated[str, AfterValidator(_md5)]] = {}

    @field_validator("checksums")
    @classmethod
    def _sorted(cls, checksums: dict[str, str]) -> dict[str, str]:
        return dict(sorted(checksums.items()))  # one order, so that same_dataset compares the files, not the order


IMAGE_SOURCES = {
    "digits": DataSource(loader=load_digits_images, bundled=True),  # shipped with scikit-learn
    "cifar10": DataSource(
        loader=load_cifar10,
        needs_path=True,
        path_hint="the root holding cifar-10-batches-py/",
        options=CifarOptions,
    ),
    "cifar100": DataSource(
        loader=load_cifar100, needs_path=True, path_hint="the root holding cifar-100-python/", options=CifarOptions
    ),
    "tiny_imagenet": DataSource(
        loader=load_tiny_imagenet, needs_path=True, path_hint="the tiny-imagenet-200/ directory"
    ),
    "image_folder": DataSource(
        loader=load_image_folder, needs_path=True, path_hint="a directory with train/<class>/ folders"
    ),
}
