"""LFR on seismic patches: dense random projectors and predictors (the reference report's 3 convs kernel 5
stride 2 and 1 conv, both resized to 100 x 50), the loss on flattened maps against a hand computation, which
part each step trains, the DPP selection on dense targets, refusals naming both sides, and the shipped
``lfr_seismic.yaml``."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from lfr_steps import lfr_step, no_views

from selfsup.backbones import build_backbone
from selfsup.losses.lfr import batch_barlow_loss, dpp_greedy, projector_similarity_kernel
from selfsup.methods import METHODS, DataShape, PretextBatch, ProjectorSpec
from selfsup.methods.lfr import (
    DPP_PATCHES,
    SEISMIC_TARGET_DIM,
    DensePredictor,
    RandomConvProjector,
    dense_similarity_kernel,
)

ROOT = Path(__file__).resolve().parents[1]
PATCHES = DataShape(1, 64, 6, height=64)  # (B, 1, 64, 64) seismic patches


def _lfr(backbone: str = "cnn5", seed: int = 0, data: DataShape = PATCHES, **params):
    torch.manual_seed(seed)
    cls = METHODS.get("lfr")
    return cls(build_backbone(backbone, data.n_channels), ProjectorSpec(16, 2), cls.Params(**params), data)


def _patches(n: int, seed: int = 0, size: int = 64) -> torch.Tensor:
    """Layered toy 'sections': dipping sinusoidal reflectors plus noise, one channel."""
    generator = torch.Generator().manual_seed(seed)
    depth = torch.arange(size, dtype=torch.float32)[:, None]
    trace = torch.arange(size, dtype=torch.float32)[None, :]
    dips = torch.rand(n, 1, 1, generator=generator) * 0.4 - 0.2
    freqs = torch.rand(n, 1, 1, generator=generator) * 0.3 + 0.2
    x = torch.sin(freqs * (depth + dips * trace)) + 0.1 * torch.randn(n, size, size, generator=generator)
    return x[:, None]


def _copy(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in module.state_dict().items()}


def _same(module: torch.nn.Module, before: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(tensor, before[name]) for name, tensor in module.state_dict().items())


# ------------------------------------------------------------------------------------------------ shapes


@pytest.mark.parametrize("backbone", ["cnn5", "resnet18", "deeplab_resnet50"])
def test_dense_targets_and_predictions_are_d_x_100_x_50_maps(backbone):
    model = _lfr(backbone, num_projectors=2, pool_ratio=1).eval()
    x = _patches(2)
    with torch.no_grad():
        features = model.backbone.forward_features(x)
        assert features.shape[1] == model.backbone.feature_channels
        for projector, predictor in zip(model.random_projectors, model.predictors, strict=True):
            assert projector(x).shape == (2, SEISMIC_TARGET_DIM, 100, 50)
            assert predictor(features).shape == (2, SEISMIC_TARGET_DIM, 100, 50)


def test_conv_projector_is_three_kernel_5_stride_2_convs_then_a_bilinear_resize():
    projector = RandomConvProjector(DataShape(1, 72, 6, height=80), 24)
    convs = [m for m in projector.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 16), (16, 32), (32, 24)]
    assert all(c.kernel_size == (5, 5) and c.stride == (2, 2) and c.padding == (2, 2) for c in convs)
    assert sum(isinstance(m, torch.nn.ReLU) for m in projector.modules()) == 2  # between the convs only
    x = torch.randn(3, 1, 80, 72)
    out = projector(x)
    assert out.shape == (3, 24, 100, 50)
    assert torch.allclose(out, F.interpolate(projector.conv(x), size=(100, 50), mode="bilinear", align_corners=False))
    assert RandomConvProjector(DataShape(1, 72, 6, height=80), 8, (30, 20))(x).shape == (3, 8, 30, 20)
    # The predictor: one 1x1 conv with bias, or (1x1 conv, BatchNorm2d, ReLU) blocks first; the same resize.
    one = DensePredictor(256, 24, layers=1, hidden_dim=32)
    assert [(m.kernel_size, m.bias is not None) for m in one.modules() if isinstance(m, torch.nn.Conv2d)] == [
        ((1, 1), True)
    ]
    two = DensePredictor(256, 24, layers=2, hidden_dim=32, map_size=(7, 5))
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in two.modules()) == 1
    assert two(torch.randn(3, 256, 8, 8)).shape == (3, 24, 7, 5)


def test_map_size_and_target_dim_are_parameters():
    model = _lfr(num_projectors=2, pool_ratio=1, target_dim=5, target_map_height=12, target_map_width=9)
    x = _patches(3)
    assert model.random_projectors[0](x).shape == (3, 5, 12, 9)
    assert model.predictors[1](model.backbone.forward_features(x)).shape == (3, 5, 12, 9)


# ------------------------------------------------------------------------------------------------ loss


def _naive_map_loss(p: torch.Tensor, z: torch.Tensor, loss_type: str, lambd: float) -> float:
    """One projector's loss written out: each patch's (D, h, w) map as one vector, then the barlow-batch
    loss (sum over the (B, B) cosines) or minus the mean cosine of each patch's own pair."""
    p = [list(map(float, row)) for row in p.reshape(len(p), -1)]
    z = [list(map(float, row)) for row in z.reshape(len(z), -1)]

    def cos(a, b):
        dot = sum(u * v for u, v in zip(a, b))
        return dot / (sum(u * u for u in a) ** 0.5 * sum(v * v for v in b) ** 0.5)

    n = len(p)
    if loss_type == "cosine":
        return -sum(cos(p[i], z[i]) for i in range(n)) / n
    return sum(
        (1.0 - cos(p[i], z[j])) ** 2 if i == j else lambd * cos(p[i], z[j]) ** 2 for i in range(n) for j in range(n)
    )


@pytest.mark.parametrize("loss_type", ["barlow_batch", "cosine"])
def test_loss_is_the_mean_over_projectors_of_the_loss_on_flattened_maps(loss_type):
    model = _lfr(
        num_projectors=3,
        pool_ratio=1,
        loss_type=loss_type,
        lambda_offdiag=0.3,
        target_dim=3,
        target_map_height=6,
        target_map_width=4,
    ).eval()
    x = _patches(4)
    with torch.no_grad():
        loss = model(PretextBatch(x, no_views)).loss.item()
        features = model.backbone.forward_features(x)
        per_projector = [
            _naive_map_loss(predictor(features), projector(x), loss_type, 0.3)
            for predictor, projector in zip(model.predictors, model.random_projectors, strict=True)
        ]
    assert loss == pytest.approx(sum(per_projector) / 3, rel=1e-5)


def test_loss_at_the_default_map_size_is_batch_barlow_on_b_x_d_h_w():
    model = _lfr(num_projectors=2, pool_ratio=1).eval()
    x = _patches(5)
    with torch.no_grad():
        loss = model(PretextBatch(x, no_views)).loss
        features = model.backbone.forward_features(x)
        expected = torch.stack(
            [
                batch_barlow_loss(h(features).reshape(5, -1), g(x).reshape(5, -1), 0.01)
                for h, g in zip(model.predictors, model.random_projectors, strict=True)
            ]
        ).mean()
    assert model.random_projectors[0](x).reshape(5, -1).shape == (5, SEISMIC_TARGET_DIM * 100 * 50)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


# ------------------------------------------------------------------------------------------------ steps


def test_projectors_stay_frozen_and_each_step_trains_only_its_part():
    model = _lfr(num_projectors=2, pool_ratio=2, predictor_steps=1, predictor_layers=2, predictor_hidden_dim=16)
    model.initialise_from_data(_patches(40))
    assert all(not p.requires_grad for p in model.random_projectors.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    model.train()
    assert not model.random_projectors.training
    projectors = _copy(model.random_projectors)
    kinds = []
    for step in range(4):
        kinds.append(model.is_predictor_step())
        backbone, predictors = _copy(model.backbone), _copy(model.predictors)
        output = lfr_step(model, optimizer, _patches(6, seed=step + 1))
        assert torch.isfinite(output.loss)
        assert all(p.grad is None for p in model.random_projectors.parameters())
        if kinds[-1]:  # predictor step: the encoder untouched (eval mode, no gradient)
            assert all(p.grad is None for p in model.backbone.parameters())
            assert all(p.grad is not None for p in model.predictors.parameters())
            assert _same(model.backbone, backbone) and not _same(model.predictors, predictors)
        else:  # encoder step: the backbone gets gradients, the predictors are applied but not trained
            assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.backbone.parameters())
            assert all(p.grad is None for p in model.predictors.parameters())
            assert not _same(model.backbone, backbone)
            assert all(torch.equal(p, predictors[name]) for name, p in model.predictors.named_parameters())
        assert _same(model.random_projectors, projectors)
    assert kinds == [False, True, False, True]


# ------------------------------------------------------------------------------------------------ DPP


def test_dense_kernel_is_the_projector_similarity_kernel_of_the_flattened_maps():
    pool = [RandomConvProjector(PATCHES, 4, (10, 6)).eval() for _ in range(5)]
    x = _patches(9)
    with torch.no_grad():
        stacked = torch.stack([network(x).flatten(1) for network in pool])
    assert torch.allclose(dense_similarity_kernel(pool, x), projector_similarity_kernel(stacked), atol=1e-6)


def test_dpp_keeps_k_distinct_projectors_of_the_pool_on_seismic_patches():
    model = _lfr(num_projectors=4, pool_ratio=3, target_map_height=20, target_map_width=10)
    pool = list(model._pool)
    weights = [_copy(network) for network in pool]
    sample = _patches(100)
    model.initialise_from_data(sample)
    spread = sample[torch.linspace(0, 99, DPP_PATCHES).round().long()]  # the patches the kernel is built on
    with torch.no_grad():
        kernel = projector_similarity_kernel(torch.stack([network(spread).flatten(1) for network in pool]))
    expected = dpp_greedy(kernel.numpy(), 4)
    assert model.selected.tolist() == expected and len(set(expected)) == 4
    for slot, index in enumerate(expected):
        assert _same(model.random_projectors[slot], weights[index])
    assert model._pool is None
    # Only the K kept projectors are state: 3 convs, weight and bias each.
    assert sum(name.startswith("random_projectors.") for name in model.state_dict()) == 4 * 6
    # A checkpoint restores the choice into a freshly built model (another seed, another pool).
    other = _lfr(seed=1, num_projectors=4, pool_ratio=3, target_map_height=20, target_map_width=10)
    other.load_state_dict(model.state_dict())
    model.eval(), other.eval()
    with torch.no_grad():
        x = _patches(3, seed=5)
        assert torch.equal(model(PretextBatch(x, no_views)).loss, other(PretextBatch(x, no_views)).loss)


# ------------------------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_a_time_series_projector_on_seismic_patches_is_refused_naming_both(arch):
    with pytest.raises(
        ValueError,
        match=f"target_arch '{arch}' is a projector of time-series windows, but the "
        f"data are seismic patches of 1 channel",
    ):
        _lfr(target_arch=arch, pool_ratio=1)


def test_seismic_settings_on_windows_are_refused_naming_both():
    windows = DataShape(3, 40, 4)
    with pytest.raises(
        ValueError,
        match="'conv' is the projector of seismic patches, but the data are time-series windows of 3 channel",
    ):
        _lfr("conv1d", data=windows, target_arch="conv", pool_ratio=1)
    with pytest.raises(ValueError, match="target_map_height sizes the dense target maps of seismic patches"):
        _lfr("conv1d", data=windows, target_map_height=100, pool_ratio=1)
    assert not _lfr("conv1d", data=windows, pool_ratio=1).dense  # unset target_arch: the MLP on windows


def test_a_patch_of_another_size_is_refused():
    model = _lfr(num_projectors=2, pool_ratio=2)
    message = r"seismic patches of 1 channel\(s\) x 64 x 64 \(the DataShape\), got a batch of shape \(4, 1, 48, 48\)"
    with pytest.raises(ValueError, match=message):
        model(PretextBatch(torch.zeros(4, 1, 48, 48), no_views))
    with pytest.raises(ValueError, match=r"got a batch of shape \(4, 1, 64\)"):
        model.initialise_from_data(torch.zeros(4, 1, 64))


# ------------------------------------------------------------------------------------------------ wiring


def test_data_shape_carries_the_height_of_patches_only():
    from selfsup.pretrain import data_shape

    def prepared(shape):
        return SimpleNamespace(n_channels=shape[1], n_classes=6, pretext=SimpleNamespace(x=np.zeros(shape)))

    assert data_shape(prepared((2, 1, 80, 72))) == DataShape(1, 72, 6, height=80)
    assert data_shape(prepared((2, 3, 40))) == DataShape(3, 40, 6, height=None)


def test_lfr_is_accepted_on_seismic_and_cpc_still_refused():
    from trainables.searchspace import SweepSpec

    data = {"pretext": {"source": "synthetic_seismic"}, "downstream": {"source": "synthetic_seismic"}}
    SweepSpec.model_validate({"name": "t", "method": "lfr", "data": data, "fixed": {"backbone": "cnn5"}})
    with pytest.raises(
        ValueError, match="method 'cpc' trains on time series, but data synthetic_seismic is seismic sections"
    ):
        SweepSpec.model_validate({"name": "t", "method": "cpc", "data": data, "fixed": {"backbone": "cnn5"}})


def test_shipped_seismic_searchspace_validates_and_builds():
    from selfsup.pretrain import build_method
    from trainables.searchspace import load_sweep, split_trial_params

    spec = load_sweep(ROOT / "searchspaces" / "lfr_seismic.yaml")
    assert spec.method == "lfr" and spec.domain.name == "seismic"
    assert spec.search["num_projectors"].choices == [5, 8, 12, 16]
    params = spec.default_params()
    assert params["batch_size"] == 8 and params["backbone"] == "cnn5" and params["target_arch"] == "conv"
    shared, own = split_trial_params("lfr", {**params, "num_projectors": 5}, "seismic")
    torch.manual_seed(0)
    model = build_method(spec.method, shared, own, DataShape(1, 80, 6, height=80))
    assert len(model.random_projectors) == 5 and len(model._pool) == 5 * own.pool_ratio
    with torch.no_grad():
        assert model.random_projectors[0](torch.zeros(1, 1, 80, 80)).shape == (1, 64, 100, 50)
