"""bf16 autocast, float32 losses and channels-last layout (``selfsup.mixed_precision``, ``resources``).

CPU autocast runs the same bfloat16 casts as CUDA's, so the convention is tested here; the CUDA path
(tensor cores, NCCL, pinned memory) is measured on a GPU machine (docs/measurements.md, benchmarks/method_throughput.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from selfsup.backbones import build_backbone
from selfsup.data.windows import Windows
from selfsup.domains import DOMAINS, domain_named
from selfsup.losses import BarlowTwinsLoss, NTXentLoss, VICRegLoss, WMSELoss, negative_cosine
from selfsup.methods import METHODS, DataShape, ProjectorSpec
from selfsup.mixed_precision import autocast, check_precision_supported, full_precision
from selfsup.pretrain import to_channels_last, train_one_epoch, training_loader
from trainables.searchspace import SweepSpec

CPU = torch.device("cpu")

LOSSES = {
    "barlow_twins": lambda a, b: BarlowTwinsLoss(lambda_offdiag=0.005)(a, b),
    "vicreg": lambda a, b: VICRegLoss()(a, b),
    "nt_xent": lambda a, b: NTXentLoss(temperature=0.1)(a, b),
    "wmse": lambda a, b: WMSELoss(w_size=128)([a, b], generator=torch.Generator().manual_seed(0)),
    "negative_cosine": negative_cosine,
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_run_in_float32_inside_a_bf16_autocast_region(name):
    torch.manual_seed(0)
    z_a, z_b = torch.randn(256, 64), torch.randn(256, 64)
    outside = LOSSES[name](z_a, z_b)
    with autocast(CPU, "bf16"):
        inside = LOSSES[name](z_a, z_b)
        # Without full_precision the same matrix products would run in bfloat16 (8-bit mantissa).
        demoted = z_a.T @ z_b
    assert demoted.dtype == torch.bfloat16
    assert inside.dtype == torch.float32
    torch.testing.assert_close(inside, outside, rtol=1e-6, atol=1e-6)


def test_bf16_embeddings_are_promoted_and_gradients_reach_them():
    torch.manual_seed(0)
    z_a = torch.randn(64, 32).to(torch.bfloat16).requires_grad_()
    z_b = torch.randn(64, 32).to(torch.bfloat16).requires_grad_()
    loss = BarlowTwinsLoss(lambda_offdiag=0.005)(z_a, z_b)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, BarlowTwinsLoss(lambda_offdiag=0.005)(z_a.float(), z_b.float()))
    loss.backward()
    assert z_a.grad is not None and z_a.grad.dtype == torch.bfloat16 and torch.isfinite(z_a.grad.float()).all()


def test_full_precision_passes_non_tensor_arguments_through():
    @full_precision
    def scaled_sum(values, scale: float, generator=None):
        return sum(v.sum() for v in values) * scale

    values = [torch.ones(3, dtype=torch.bfloat16), torch.ones(2, dtype=torch.bfloat16)]
    result = scaled_sum(values, 2.0, generator=torch.Generator())
    assert result.dtype == torch.float32 and result.item() == 10.0
    assert scaled_sum([], 1.0) == 0  # no tensor: called as is


def _digit_images(n: int = 64, seed: int = 0) -> Windows:
    rng = np.random.default_rng(seed)
    return Windows(
        x=rng.random((n, 1, 16, 16), dtype=np.float32), y=None, series_index=np.arange(n), name="random images"
    )


def _simclr_on_images(
    channels_last: bool, backbone: str = "resnet18_small"
) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    cls = METHODS.get("simclr")
    model = cls(build_backbone(backbone, 1), ProjectorSpec(32, 2), cls.Params(), DataShape(1, 16, 10))
    if channels_last:
        to_channels_last(model)
    return model, torch.optim.SGD(model.parameters(), lr=0.01)


def _augmenter():
    params = DOMAINS.get("images").Params(input_size=16, augmentation_preset="simclr", aug_blur_p=0.0)
    return domain_named("images").build_augmenter(params, seed=0)


def test_a_bf16_training_step_runs_the_backbone_in_bfloat16_and_keeps_float32_weights():
    # cnn5, the images backbone sslsweep ships for CPUs, keeps this cheap: bfloat16 convolutions are slow on CPUs
    # without AMX, a ResNet-18's most of all.
    model, optimizer = _simclr_on_images(channels_last=False, backbone="cnn5")
    seen = []
    model.backbone.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    images = _digit_images()
    loader = training_loader(images, 32)
    losses = train_one_epoch(model, loader, images, _augmenter(), optimizer, CPU, 0, 1, precision="bf16")
    assert seen and set(seen) == {torch.bfloat16}
    assert np.isfinite(losses["train/loss"])
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_channels_last_changes_the_layout_not_the_result():
    images = _digit_images()
    results = {}
    for channels_last in (False, True):
        model, optimizer = _simclr_on_images(channels_last)
        loader = training_loader(images, 32)
        loader.generator.manual_seed(0)
        results[channels_last] = train_one_epoch(
            model, loader, images, _augmenter(), optimizer, CPU, 0, 1, channels_last=channels_last
        )["train/loss"]
        # A 3x3 convolution over several channels (with one input channel both layouts coincide).
        weight = next(p for p in model.backbone.parameters() if p.dim() == 4 and p.shape[1] > 1 and p.shape[2] > 1)
        assert weight.is_contiguous(memory_format=torch.channels_last) == channels_last
    assert results[True] == pytest.approx(results[False], rel=1e-4)


def test_channels_last_is_refused_for_time_series_and_unknown_precisions_name_the_choices():
    with pytest.raises(
        ValueError,
        match=r"resources.channels_last lays out 4-D image batches, but data aeon is "
        r"time series",
    ):
        SweepSpec.model_validate(
            {
                "name": "t",
                "method": "simclr",
                "data": {
                    "pretext": {"source": "aeon", "name": "BasicMotions"},
                    "downstream": {"source": "aeon", "name": "BasicMotions"},
                },
                "resources": {"channels_last": True},
            }
        )
    with pytest.raises(ValueError, match=r"'fp32' or 'bf16'"):
        SweepSpec.model_validate(
            {
                "name": "t",
                "method": "simclr",
                "data": {"pretext": {"source": "digits"}, "downstream": {"source": "digits"}},
                "resources": {"precision": "fp16"},
            }
        )
    spec = SweepSpec.model_validate(
        {
            "name": "t",
            "method": "simclr",
            "data": {"pretext": {"source": "digits"}, "downstream": {"source": "digits"}},
            "resources": {"precision": "bf16", "channels_last": True},
        }
    )
    assert spec.resources.precision == "bf16" and spec.resources.channels_last


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_bf16_on_this_gpu_is_accepted_or_refused_by_name():
    device = torch.device("cuda:0")
    if torch.cuda.is_bf16_supported(including_emulation=False):
        check_precision_supported(device, "bf16")
    else:
        with pytest.raises(RuntimeError, match="needs a GPU with bfloat16 support"):
            check_precision_supported(device, "bf16")


def test_the_trial_loop_trains_with_the_sweeps_precision_and_layout(tmp_path):
    """``resources`` reaches the one training loop: bf16 changes the loss in the last digits, channels-last
    shows in the checkpointed weights."""
    from local_trial import LocalContext

    from trainables.trial.worker import run_trial_loop

    reports, states = {}, {}
    for name, resources in {"fp32": {}, "bf16": {"precision": "bf16", "channels_last": True}}.items():
        spec = SweepSpec.model_validate(
            {
                "name": "t",
                "method": "simclr",
                "seed": 0,
                "data": {"pretext": {"source": "digits"}, "downstream": {"source": "digits"}},
                "fixed": {"backbone": "cnn5", "batch_size": 128, "input_size": 8, "projector_dim": 32},
                "budget": {"trials": 1, "epochs": 1, "checkpoint_every": 1},
                "evaluation": {"protocols": ["knn"], "label_fractions": [1.0], "compare_random_init": False},
                "objective": {"metric": "val/knn/acc/frac_1.0", "mode": "max"},
                "resources": resources,
            }
        )
        data = spec.domain.prepare_data(**spec.domain.data_arguments(spec.data, spec.seed, spec.default_params()))
        context = LocalContext(tmp_path / name)
        run_trial_loop({"sweep": spec.model_dump(mode="json"), "params": spec.default_params(), "data": data}, context)
        reports[name] = context.reports[-1]
        states[name] = torch.load(tmp_path / name / "epoch1" / "trial_state.pt", weights_only=True)["method"]
    assert reports["bf16"]["train/loss"] != reports["fp32"]["train/loss"]
    assert reports["bf16"]["train/loss"] == pytest.approx(reports["fp32"]["train/loss"], rel=0.05)
    convolutions = [name for name, t in states["fp32"].items() if t.dim() == 4 and t.shape[1] > 1 and t.shape[2] > 1]
    assert convolutions
    for name in convolutions:
        assert states["bf16"][name].is_contiguous(memory_format=torch.channels_last), name
        assert not states["fp32"][name].is_contiguous(memory_format=torch.channels_last), name
        assert states["bf16"][name].dtype == torch.float32
