"""Image (SimCLR / BYOL / none presets on torchvision v2) and seismic augmenters."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from pydantic import ValidationError
from torchvision.transforms import v2

from selfsup.augmentations.images import PRESETS, ImageAugmentationParams, ImageAugmenter, blur_kernel_size
from selfsup.augmentations.seismic import REFUSED_FOR_SEISMIC, SeismicAugmentationParams, SeismicAugmenter

PRESET_NAMES = ["simclr", "byol", "none"]


def images(batch: int = 6, channels: int = 3, height: int = 24, width: int = 28, seed: int = 0) -> torch.Tensor:
    """Smooth random images in [0, 1] (upsampled noise, so crops and blurs visibly change them)."""
    coarse = torch.rand(batch, channels, height // 4, width // 4, generator=torch.Generator().manual_seed(seed))
    return torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)


def image_augmenter(seed: int = 0, **params) -> ImageAugmenter:
    params.setdefault("input_size", 16)
    return ImageAugmenter(ImageAugmentationParams(**params), seed=seed)


def transforms_of(transform) -> list:
    """``transform`` and every transform nested in it (Compose and RandomApply keep theirs in a plain list)."""
    return [transform] + [inner for child in getattr(transform, "transforms", []) for inner in transforms_of(child)]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(u, v) for u, v in zip(a, b))


# ----------------------------------------------------------------------------------------- image presets
@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_preset_views_shape_dtype_device_range(preset):
    x = images()  # stored 24 x 28, views come out input_size x input_size
    views = image_augmenter(augmentation_preset=preset).views(x, 3)
    assert len(views) == 3
    for view in views:
        assert view.shape == (6, 3, 16, 16) and view.dtype == x.dtype and view.device == x.device
        assert view.min() >= 0 and view.max() <= 1


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_preset_seeded_reproducible_and_global_rng_untouched(preset):
    x = images()
    torch.manual_seed(1234)
    state = torch.get_rng_state()
    first = image_augmenter(seed=7, augmentation_preset=preset).views(x, 2)
    assert torch.equal(torch.get_rng_state(), state)
    second = image_augmenter(seed=7, augmentation_preset=preset).views(x, 2)
    assert same(first, second)
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("preset", ["simclr", "byol"])
def test_different_seeds_and_calls_differ_and_reseed_restarts(preset):
    x = images()
    augmenter = image_augmenter(seed=0, augmentation_preset=preset)
    first = augmenter.views(x, 2)
    assert not same(first, image_augmenter(seed=1, augmentation_preset=preset).views(x, 2))
    assert not same(first, augmenter.views(x, 2))  # the stream advances
    augmenter.reseed(0)
    assert same(first, augmenter.views(x, 2))


def test_none_preset_is_a_plain_resize():
    x = images(height=16, width=16)
    views = image_augmenter(seed=0, augmentation_preset="none").views(x, 2)
    assert torch.allclose(views[0], x, atol=1e-6) and torch.equal(views[0], views[1])


def test_each_image_is_transformed_independently():
    x = images(batch=1).expand(8, -1, -1, -1).contiguous()  # one image, eight times
    view = image_augmenter(augmentation_preset="simclr").views(x, 1)[0]
    distinct = {tuple(image.flatten().tolist()) for image in view}
    assert len(distinct) == 8


def test_byol_views_follow_asymmetric_recipes():
    first, second = PRESETS["byol"]
    assert (first.blur_p, first.solarize_p) == (1.0, 0.0)
    assert (second.blur_p, second.solarize_p) == (0.1, 0.2)
    description = image_augmenter(augmentation_preset="byol").describe()
    assert "p 1)" in description and "p 0.1)" in description and "solarize" in description
    assert "views 0, 2" in description and "views 1, 3" in description


def test_byol_views_differ_in_behaviour():
    # Without crops, flips and colour, view 0 (blur p 1) changes every image, view 1 (blur p 0.1, solarize
    # p 0.2) leaves about 0.9 * 0.8 of them as they were.
    x = images(batch=64, height=16, width=16)
    quiet = dict(aug_crop_scale_min=1.0, aug_hflip=0.0, aug_color_jitter_p=0.0, aug_grayscale_p=0.0)
    views = image_augmenter(augmentation_preset="byol", **quiet).views(x, 4)
    unchanged = [(~torch.isclose(view, x, atol=1e-6)).flatten(1).sum(1).eq(0).float().mean().item() for view in views]
    # sigma near 0.1 makes a 3 x 3 blur an exact identity in float32, hence not exactly 0 for the blurred views
    assert unchanged[0] < 0.1 and unchanged[2] < 0.1
    assert 0.5 < unchanged[1] < 0.95 and 0.5 < unchanged[3] < 0.95


def test_overrides_replace_preset_values_in_every_view():
    params = ImageAugmentationParams(augmentation_preset="byol", aug_blur_p=0.3, aug_hue=0.05, aug_rotation=10)
    recipes = params.recipes()
    assert [recipe.blur_p for recipe in recipes] == [0.3, 0.3]
    assert [recipe.hue for recipe in recipes] == [0.05, 0.05]
    assert [recipe.solarize_p for recipe in recipes] == [0.0, 0.2]  # not overridden: preset values
    assert dataclasses.replace(recipes[0], blur_p=1.0, hue=0.1, rotation=0.0) == PRESETS["byol"][0]
    description = ImageAugmenter(params, seed=0).describe()
    assert "p 0.3)" in description and "rotate(+-10 deg)" in description


def test_overrides_change_the_views():
    # Full-size crop of a square image, always flipped, nothing else: the views are the mirrored images.
    x = images(height=16, width=16)
    off = dict(aug_color_jitter_p=0.0, aug_grayscale_p=0.0, aug_blur_p=0.0)
    views = image_augmenter(augmentation_preset="simclr", aug_crop_scale_min=1.0, aug_hflip=1.0, **off).views(x, 2)
    for view in views:
        assert torch.allclose(view, x.flip(-1), atol=1e-6)


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_one_channel_images(preset):
    x = images(channels=1, height=28, width=28)
    augmenter = image_augmenter(augmentation_preset=preset, aug_rotation=15)
    views = augmenter.views(x, 2)
    for view in views:
        assert view.shape == (6, 1, 16, 16) and view.min() >= 0 and view.max() <= 1
    # saturation, hue and grayscale have nothing to act on in one channel and are left out
    for view_index in range(len(augmenter.recipes)):
        modules = transforms_of(augmenter.pipeline(view_index, 1))
        assert not any(isinstance(module, v2.RandomGrayscale) for module in modules)
        for jitter in (module for module in modules if isinstance(module, v2.ColorJitter)):
            assert jitter.saturation is None and jitter.hue is None and jitter.brightness is not None
        colour = transforms_of(augmenter.pipeline(view_index, 3))
        assert any(isinstance(module, v2.RandomGrayscale) for module in colour) == (preset != "none")


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_dtype_is_kept(dtype):
    x = images().to(dtype)
    view = image_augmenter(augmentation_preset="byol").views(x, 1)[0]
    assert view.dtype == dtype and view.shape == (6, 3, 16, 16)


def test_values_outside_unit_range_are_clamped():
    x = images() * 3 - 1
    view = image_augmenter(augmentation_preset="simclr").views(x, 1)[0]
    assert view.min() >= 0 and view.max() <= 1


def test_blur_kernel_is_about_a_tenth_of_the_side_odd_and_at_least_3():
    assert [blur_kernel_size(size) for size in (4, 32, 64, 96, 224)] == [3, 3, 7, 11, 23]


@pytest.mark.parametrize(
    "field,value",
    [
        ("input_size", 2),
        ("aug_crop_scale_min", 0.0),
        ("aug_crop_scale_min", 1.5),
        ("aug_hflip", 1.5),
        ("aug_rotation", -5.0),
        ("aug_brightness", -0.1),
        ("aug_contrast", float("nan")),
        ("aug_hue", 0.6),
        ("aug_color_jitter_p", -0.1),
        ("aug_grayscale_p", 2.0),
        ("aug_blur_p", 1.01),
        ("aug_solarize_p", 7.0),
        ("augmentation_preset", "mocov3"),
        ("aug_sharpness", 0.5),
    ],
)
def test_invalid_image_params_name_the_field(field, value):
    with pytest.raises(ValidationError, match=field):
        ImageAugmentationParams(**{field: value})


def test_invalid_image_inputs():
    augmenter = image_augmenter()
    with pytest.raises(ValueError, match="n >= 1"):
        augmenter.views(images(), 0)
    with pytest.raises(ValueError, match="shape"):
        augmenter.views(torch.rand(3, 16, 16))
    with pytest.raises(ValueError, match="2 channels"):
        augmenter.views(torch.rand(2, 2, 16, 16))
    with pytest.raises(ValueError, match="floating-point"):
        augmenter.views(torch.zeros(2, 3, 16, 16, dtype=torch.uint8))


# ---------------------------------------------------------------------------------------------- seismic
def seismic_augmenter(seed: int = 0, **params) -> SeismicAugmenter:
    return SeismicAugmenter(SeismicAugmentationParams(**params), seed=seed)


def coordinate_sections(batch: int, height: int, width: int) -> torch.Tensor:
    """x[b, 0, i, j] = 1 + 1000 i + j + 10^6 b: every pixel encodes its section and coordinates."""
    rows = torch.arange(height, dtype=torch.float64)[:, None]
    columns = torch.arange(width, dtype=torch.float64)[None, :]
    sections = torch.arange(batch, dtype=torch.float64)[:, None, None, None]
    return (1 + 1000 * rows + columns + 1e6 * sections).expand(batch, 1, height, width).contiguous()


def test_seismic_shapes_dtype_device():
    x = torch.randn(5, 1, 80, 100)
    augmenter = seismic_augmenter()
    views = augmenter.views(x, 3)
    assert len(views) == 3
    for view in views:
        assert view.shape == (5, 1, 64, 64) and view.dtype == x.dtype and view.device == x.device
    assert seismic_augmenter().views(x.to(torch.bfloat16), 1)[0].dtype == torch.bfloat16
    assert "random crop 64x64" in augmenter.describe() and "hflip(p 0.5)" in augmenter.describe()


def test_seismic_crop_is_a_window_of_the_section_possibly_flipped_and_scaled():
    batch, height, width, size = 40, 90, 110, 64
    x = coordinate_sections(batch, height, width)
    view = seismic_augmenter(seed=3, aug_noise=0.0, aug_amplitude_scale=0.3).views(x, 1)[0][:, 0]
    factors = (view[:, 1, 0] - view[:, 0, 0]) / 1000  # a row step is 1000 before scaling
    assert ((factors >= 0.7 - 1e-9) & (factors <= 1.3 + 1e-9)).all()
    original = torch.round(view / factors[:, None, None])  # undo the scaling: the coordinate code
    assert torch.allclose(view, factors[:, None, None] * original)
    section = torch.div(original[:, 0, 0] - 1, 1e6, rounding_mode="floor")
    assert torch.equal(section, torch.arange(batch, dtype=section.dtype))  # each crop comes from its own section
    local = original - 1 - 1e6 * section[:, None, None]
    rows, columns = torch.div(local, 1000, rounding_mode="floor"), local % 1000
    steps = torch.arange(size, dtype=local.dtype)
    top, left_edge = rows[:, 0, 0], columns[:, 0, 0]
    assert torch.equal(rows, (top[:, None] + steps)[:, :, None].expand(-1, -1, size))  # contiguous rows
    flipped = (columns[:, 0, 0] - columns[:, 0, 1]) == 1
    expected = torch.where(flipped[:, None], left_edge[:, None] - steps, left_edge[:, None] + steps)
    assert torch.equal(columns, expected[:, None, :].expand(-1, size, -1))  # contiguous columns
    assert (top >= 0).all() and (top + size <= height).all()
    left = torch.where(flipped, left_edge - (size - 1), left_edge)
    assert (left >= 0).all() and (left + size <= width).all()
    assert 0 < flipped.sum() < batch
    assert len(set(top.tolist())) > 5 and len(set(left.tolist())) > 5  # offsets vary per section


@pytest.mark.parametrize("probability", [0.0, 0.3, 1.0])
def test_seismic_flip_probability(probability):
    x = coordinate_sections(1, 64, 64).expand(2000, -1, -1, -1)
    view = seismic_augmenter(aug_hflip=probability, aug_noise=0.0, aug_amplitude_scale=0.0).views(x, 1)[0]
    flipped = view[:, 0, 0, 0] == x[0, 0, 0, -1]
    assert torch.equal(view[~flipped], x[~flipped])
    assert torch.equal(view[flipped], x[flipped].flip(-1))
    assert abs(flipped.float().mean().item() - probability) < 0.05


def test_seismic_amplitude_scale_range_and_noise():
    x = torch.ones(500, 1, 64, 64)
    view = seismic_augmenter(aug_amplitude_scale=0.2, aug_noise=0.0).views(x, 1)[0]
    factors = view[:, 0, 0, 0]
    assert torch.equal(view, factors[:, None, None, None].expand_as(view))  # one factor per section
    assert factors.min() >= 0.8 and factors.max() <= 1.2
    assert factors.min() < 0.82 and factors.max() > 1.18
    noisy = seismic_augmenter(aug_amplitude_scale=0.0, aug_noise=0.05).views(x[:50], 1)[0]
    assert abs((noisy - 1).std().item() - 0.05) < 0.002 and abs((noisy - 1).mean().item()) < 0.002


def test_seismic_seeded_reproducible_and_global_rng_untouched():
    x = torch.randn(4, 1, 70, 80)
    state = torch.get_rng_state()
    augmenter = seismic_augmenter(seed=5)
    first = augmenter.views(x, 2)
    assert same(first, seismic_augmenter(seed=5).views(x, 2))
    assert not same(first, seismic_augmenter(seed=6).views(x, 2))
    assert not same(first, augmenter.views(x, 2))
    augmenter.reseed(5)
    assert same(first, augmenter.views(x, 2))
    assert torch.equal(torch.get_rng_state(), state)


def test_seismic_input_size_below_64_refused_with_reason():
    with pytest.raises(ValidationError, match="input_size.*lose the geology"):
        SeismicAugmentationParams(input_size=32)
    assert SeismicAugmentationParams(input_size=64).input_size == 64


def test_seismic_section_smaller_than_input_size_refused():
    augmenter = seismic_augmenter(input_size=64)
    with pytest.raises(ValueError, match=r"60 x 100.*64 x 64"):
        augmenter.views(torch.randn(2, 1, 60, 100))


@pytest.mark.parametrize(
    "field,value",
    [
        ("aug_hflip", 1.5),
        ("aug_amplitude_scale", 1.0),
        ("aug_amplitude_scale", -0.1),
        ("aug_noise", -0.01),
        ("aug_brightness", 0.4),
    ],
)
def test_invalid_seismic_params_name_the_field(field, value):
    with pytest.raises(ValidationError, match=field):
        SeismicAugmentationParams(**{field: value})


def test_refused_for_seismic_covers_the_image_only_parameters():
    image_fields = set(ImageAugmentationParams.model_fields)
    seismic_fields = set(SeismicAugmentationParams.model_fields)
    assert set(REFUSED_FOR_SEISMIC) == image_fields - seismic_fields
    for name in (
        "aug_brightness",
        "aug_contrast",
        "aug_saturation",
        "aug_hue",
        "aug_color_jitter_p",
        "aug_grayscale_p",
        "aug_solarize_p",
    ):
        assert "geology" in REFUSED_FOR_SEISMIC[name]
    assert "thin reflectors" in REFUSED_FOR_SEISMIC["aug_blur_p"]
    assert "depth axis" in REFUSED_FOR_SEISMIC["aug_rotation"]
    assert "depth axis" in REFUSED_FOR_SEISMIC["aug_crop_scale_min"]
