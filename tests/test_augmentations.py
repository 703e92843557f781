"""Batched time-series augmentations and the TimeSeriesAugmenter."""

from __future__ import annotations

import pytest
import torch

from selfsup.augmentations import (
    AUGMENTATIONS,
    TimeSeriesAugmenter,
    blockout,
    crop_resize,
    flip,
    jitter,
    negate,
    scaling,
    smooth,
    time_warp,
)

NAMES = list(AUGMENTATIONS)
#: A strength per augmentation that visibly changes a (8, 3, 64) batch; flip / negate certainly at 1.
STRENGTHS = {
    "jitter": 0.2,
    "scaling": 0.2,
    "magnitude_warp": 0.2,
    "time_warp": 0.3,
    "crop_resize": 0.5,
    "blockout": 0.2,
    "flip": 1.0,
    "negate": 1.0,
    "smooth": 0.5,
}


def generator(seed: int = 0, device: str | torch.device = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def batch(*shape: int, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> torch.Tensor:
    shape = shape or (8, 3, 64)
    return torch.randn(*shape, generator=generator(123), dtype=torch.float64).to(device=device, dtype=dtype)


def test_registry_order():
    assert NAMES == [
        "jitter",
        "scaling",
        "magnitude_warp",
        "time_warp",
        "crop_resize",
        "blockout",
        "flip",
        "negate",
        "smooth",
    ]
    assert set(STRENGTHS) == set(NAMES)


# ----------------------------------------------------------------------------------- every augmentation
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", NAMES)
def test_preserves_shape_dtype_device(name, dtype):
    x = batch(dtype=dtype)
    out = AUGMENTATIONS[name](x, STRENGTHS[name], generator())
    assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", NAMES)
def test_strength_zero_is_identity(name, dtype):
    x = batch(dtype=dtype)
    out = AUGMENTATIONS[name](x, 0.0, generator())
    assert torch.equal(out, x)
    assert out is not x  # a copy: modifying a view must not modify the input


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", NAMES)
def test_positive_strength_changes_input(name, dtype):
    x = batch(dtype=dtype)
    assert not torch.equal(AUGMENTATIONS[name](x, STRENGTHS[name], generator()), x)


@pytest.mark.parametrize("name", NAMES)
def test_seeded_generator_is_reproducible(name):
    # Large batch and probability 0.5 for flip / negate, so two seeds cannot plausibly agree on every sample.
    x = batch(64, 3, 64)
    strength = 0.5 if name in ("flip", "negate") else STRENGTHS[name]
    augment = AUGMENTATIONS[name]
    assert torch.equal(augment(x, strength, generator(1)), augment(x, strength, generator(1)))
    if name != "smooth":  # smooth is deterministic
        assert not torch.equal(augment(x, strength, generator(1)), augment(x, strength, generator(2)))


@pytest.mark.parametrize("name", NAMES)
def test_does_not_modify_input(name):
    x = batch()
    original = x.clone()
    AUGMENTATIONS[name](x, STRENGTHS[name], generator())
    assert torch.equal(x, original)


@pytest.mark.parametrize("name", NAMES)
def test_rejects_bad_arguments(name):
    augment = AUGMENTATIONS[name]
    with pytest.raises(ValueError, match=name):
        augment(batch(), -0.1, generator())
    with pytest.raises(ValueError, match="batch, channels, length"):
        augment(torch.zeros(3, 64), STRENGTHS[name], generator())
    with pytest.raises(ValueError, match="floating-point"):
        augment(torch.zeros(2, 3, 64, dtype=torch.long), STRENGTHS[name], generator())


@pytest.mark.parametrize("name", NAMES)
def test_length_one_and_empty_batch(name):
    for x in (batch(4, 2, 1), batch(0, 2, 16)):
        out = AUGMENTATIONS[name](x, STRENGTHS[name] * 0.9, generator())
        assert out.shape == x.shape and torch.isfinite(out).all()


# ------------------------------------------------------------------------------------ specific behaviour
@pytest.mark.parametrize("augment", [time_warp, crop_resize])
def test_resampling_keeps_constant_series_exactly_constant(augment):
    levels = torch.tensor([0.1, -3.7, 1e3], dtype=torch.float64).view(1, 3, 1)
    for dtype in (torch.float32, torch.float64):
        x = levels.expand(16, 3, 50).to(dtype)
        assert torch.equal(augment(x, 0.9, generator()), x)


def test_time_warp_is_a_monotonic_reparametrisation_keeping_the_endpoints():
    ramp = torch.arange(100, dtype=torch.float64).expand(32, 2, 100)
    out = time_warp(ramp, 0.5, generator())
    assert (out.diff(dim=-1) > 0).all()
    assert torch.equal(out[..., 0], ramp[..., 0]) and torch.equal(out[..., -1], ramp[..., -1])
    assert torch.equal(out[:, 0], out[:, 1])  # one warp per sample, shared by its channels


def test_crop_resize_reads_a_contiguous_segment_of_the_allowed_length():
    length, strength = 100, 0.5
    ramp = torch.arange(length, dtype=torch.float64).expand(256, 1, length)
    out = crop_resize(ramp, strength, generator())
    assert (out.diff(dim=-1) > 0).all()
    crop_lengths = out[..., -1] - out[..., 0] + 1  # the ramp's value is its time index
    assert torch.allclose(crop_lengths, crop_lengths.round())
    assert crop_lengths.min() >= round(length * (1 - strength)) and crop_lengths.max() <= length
    assert out[..., 0].min() >= 0 and out[..., -1].max() <= length - 1


def test_flip_with_probability_one_reverses_time():
    x = batch()
    assert torch.equal(flip(x, 1.0, generator()), torch.flip(x, [-1]))


def test_negate_with_probability_one_negates():
    x = batch()
    assert torch.equal(negate(x, 1.0, generator()), -x)


@pytest.mark.parametrize("augment, transformed", [(flip, lambda x: x.flip(-1)), (negate, lambda x: -x)])
def test_flip_and_negate_act_on_whole_samples_with_the_given_probability(augment, transformed):
    x = batch(4000, 2, 8)
    out = augment(x, 0.3, generator())
    changed = (out == transformed(x)).flatten(1).all(dim=1)
    assert (changed | (out == x).flatten(1).all(dim=1)).all()  # each sample whole: transformed or untouched
    assert abs(changed.float().mean().item() - 0.3) < 0.03


@pytest.mark.parametrize("strength", [0.05, 0.23, 0.5, 0.99])
def test_blockout_zeroes_one_block_of_the_exact_length_per_sample(strength):
    length = 100
    x = torch.rand(64, 3, length, generator=generator(5)) + 1  # no zeros of its own
    out = blockout(x, strength, generator())
    zeroed = out == 0
    assert torch.equal(zeroed, zeroed[:, :1].expand_as(zeroed))  # the same steps in every channel
    assert torch.equal(out[~zeroed], x[~zeroed])
    for sample_zeroed in zeroed[:, 0]:
        steps = sample_zeroed.nonzero().squeeze(1)
        assert len(steps) == round(length * strength)
        assert (steps.diff() == 1).all()  # consecutive


def test_blockout_start_covers_every_position():
    out = blockout(torch.ones(2000, 1, 10), 0.3, generator())
    starts = (out[:, 0] == 0).int().argmax(dim=-1)
    assert set(starts.tolist()) == set(range(10 - 3 + 1))


@pytest.mark.parametrize("strength", [0.5, 1.0, 30.0])  # 30: window wider than the series
def test_smooth_keeps_a_constant(strength):
    x = torch.full((4, 3, 40), 0.7)
    assert torch.allclose(smooth(x, strength, generator()), x)


def test_smooth_is_a_centred_moving_average():
    x = batch(2, 3, 100, dtype=torch.float64)
    out = smooth(x, 0.4, generator())  # half width round(0.4 * 100 / 20) = 2 -> width 5
    assert torch.allclose(out[..., 2:-2], x.unfold(-1, 5, 1).mean(dim=-1))
    assert out.std() < x.std()


@pytest.mark.parametrize("strength", [0.05, 0.2, 1.0])
def test_jitter_noise_std_is_proportional_to_strength(strength):
    channel_scales = torch.tensor([0.01, 1.0, 50.0]).view(1, 3, 1)  # relative noise: units do not matter
    x = torch.randn(4096, 3, 64, generator=generator(9)) * channel_scales
    out = jitter(x, strength, generator())
    relative_noise = (out - x) / x.std(dim=-1, keepdim=True, correction=0)
    per_channel_std = relative_noise.transpose(0, 1).flatten(1).std(dim=1)
    assert torch.allclose(per_channel_std, torch.full_like(per_channel_std, strength), rtol=0.1)


def test_scaling_factor_std_is_strength():
    x = torch.ones(4096, 2, 16)
    factors = scaling(x, 0.3, generator())
    assert torch.equal(factors, factors[..., :1].expand_as(factors))  # one factor per (sample, channel)
    assert abs(factors.mean().item() - 1) < 0.03 and abs(factors.std().item() - 0.3) < 0.03


def test_magnitude_warp_is_smooth_and_centred_on_one():
    curves = AUGMENTATIONS["magnitude_warp"](torch.ones(1024, 2, 200), 0.2, generator())
    assert abs(curves.mean().item() - 1) < 0.02
    assert curves.diff(dim=-1).abs().max() < 0.05  # no jumps between neighbouring steps
    assert not torch.equal(curves[:, 0], curves[:, 1])  # one curve per channel


# ---------------------------------------------------------------------------------- TimeSeriesAugmenter
def test_augmenter_rejects_unknown_names():
    with pytest.raises(ValueError, match=r"unknown augmentation 'foo'; known: jitter, scaling, magnitude_warp"):
        TimeSeriesAugmenter({"jitter": 0.1, "foo": 0.5})


@pytest.mark.parametrize(
    "name, strength, allowed",
    [
        ("jitter", -0.1, "[0, inf)"),
        ("smooth", float("nan"), "[0, inf)"),
        ("crop_resize", 1.0, "[0, 1)"),
        ("blockout", 1.5, "[0, 1)"),
        ("flip", 1.01, "[0, 1]"),
        ("negate", -1.0, "[0, 1]"),
    ],
)
def test_augmenter_rejects_bad_strengths(name, strength, allowed):
    with pytest.raises(ValueError, match=name) as error:
        TimeSeriesAugmenter({name: strength})
    assert allowed in str(error.value)


def test_augmenter_accepts_boundary_strengths():
    TimeSeriesAugmenter({"flip": 1.0, "negate": 1.0, "crop_resize": 0.99, "blockout": 0.0, "jitter": 5.0})


def test_augmenter_active_in_registry_order():
    augmenter = TimeSeriesAugmenter({"smooth": 0.5, "flip": 0.0, "jitter": 0.1, "time_warp": 0.2})
    assert augmenter.active == {"jitter": 0.1, "time_warp": 0.2, "smooth": 0.5}
    assert list(augmenter.strengths) == ["jitter", "time_warp", "flip", "smooth"]


def test_augmenter_applies_active_augmentations_in_order_with_its_seeded_generator():
    x = batch()
    augmenter = TimeSeriesAugmenter({"crop_resize": 0.3, "flip": 0.0, "scaling": 0.2}, seed=7)
    g = generator(7)
    expected = crop_resize(scaling(x, 0.2, g), 0.3, g)
    assert torch.equal(augmenter(x), expected)


def test_augmenter_with_nothing_active_is_identity():
    x = batch()
    out = TimeSeriesAugmenter({"jitter": 0.0}, seed=0)(x)
    assert torch.equal(out, x) and out is not x


def test_augmenter_same_seed_same_views():
    strengths = {name: 0.5 for name in NAMES}
    x = batch()
    views_a = TimeSeriesAugmenter(strengths, seed=3).views(x, n=3)
    views_b = TimeSeriesAugmenter(strengths, seed=3).views(x, n=3)
    assert len(views_a) == 3 and all(torch.equal(a, b) for a, b in zip(views_a, views_b))
    assert not torch.equal(TimeSeriesAugmenter(strengths, seed=4)(x), views_a[0])


def test_augmenter_views_differ_and_calls_advance_the_generator():
    augmenter = TimeSeriesAugmenter({"jitter": 0.1, "time_warp": 0.2}, seed=0)
    x = batch()
    view_a, view_b = augmenter.views(x)
    assert not torch.equal(view_a, view_b)
    assert not torch.equal(augmenter(x), augmenter(x))
    with pytest.raises(ValueError, match="n >= 1"):
        augmenter.views(x, n=0)


def test_augmenter_without_seed_is_random():
    augmenter = TimeSeriesAugmenter({"jitter": 0.1})
    x = batch()
    assert not torch.equal(augmenter(x), TimeSeriesAugmenter({"jitter": 0.1})(x))


# ------------------------------------------------------------------------------------------------ CUDA
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_cuda():
    x = batch(device="cuda")
    for name in NAMES:
        out = AUGMENTATIONS[name](x, STRENGTHS[name], generator(device="cuda"))
        assert out.device == x.device and out.shape == x.shape and out.dtype == x.dtype
    augmenter = TimeSeriesAugmenter(STRENGTHS, seed=0)
    view_a, view_b = augmenter.views(x)
    assert view_a.is_cuda and not torch.equal(view_a, view_b)
    assert augmenter.generator(x.device).device.type == "cuda"
    assert torch.equal(TimeSeriesAugmenter(STRENGTHS, seed=0)(x), view_a)
