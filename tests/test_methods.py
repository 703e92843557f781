"""Backbones, projector and methods: shapes, the registered interface, and that a few optimisation steps
on toy data lower the loss without collapsing."""

from __future__ import annotations

import pytest
import torch
from before_ray import refused, tune_cli  # noqa: F401  (fixtures; refused uses tune_cli)
from toy_data import sine_recording_windows

from selfsup.augmentations import TimeSeriesAugmenter
from selfsup.backbones import BACKBONES, build_backbone
from selfsup.evaluation.health import embedding_std
from selfsup.heads import ProjectionHead
from selfsup.losses import BarlowTwinsLoss, MarginContrastiveLoss, NTXentLoss, TripletLoss, VICRegLoss
from selfsup.methods import METHODS, DataShape, PretextBatch, ProjectorSpec
from selfsup.pretrain import NonFiniteLossError, train_one_epoch, training_loader
from selfsup.registry import UnknownNameError


@pytest.mark.parametrize("name", ["conv1d", "gru"])
@pytest.mark.parametrize("channels,length", [(6, 60), (1, 29), (12, 7)])
def test_backbone_shapes(name, channels, length):
    backbone = build_backbone(name, in_channels=channels)
    x = torch.randn(5, channels, length)
    assert backbone(x).shape == (5, 256) and backbone.output_dim == 256
    sequence = backbone.forward_sequence(x)
    assert sequence.shape[:2] == (5, 256)
    assert sequence.shape[2] == (length + 1) // 2 if name == "conv1d" else length


def test_conv1d_matches_the_reference_architecture():
    convs = [m for m in build_backbone("conv1d", 6).modules() if isinstance(m, torch.nn.Conv1d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0], c.padding[0]) for c in convs] == [
        (6, 32, 7, 2, 3),
        (32, 64, 3, 1, 1),
        (64, 128, 3, 1, 1),
        (128, 256, 3, 1, 1),
    ]


def test_dilated_conv1d_matches_ts2vec_encoder():
    encoder = build_backbone("dilated_conv1d", 3)
    convs = [m for m in encoder.modules() if isinstance(m, torch.nn.Conv1d) and m.kernel_size[0] == 3]
    assert [c.dilation[0] for c in convs] == [2 ** (i // 2) for i in range(22)]  # two per block, 11 blocks
    assert [c.out_channels for c in convs] == [64] * 20 + [320] * 2
    assert encoder.input_layer.kernel_size[0] == 1 and encoder.input_layer.out_channels == 64
    # A 1x1 projection on the residual path of the last block only (the one that changes width).
    assert [block.projection is not None for block in encoder.blocks] == [False] * 10 + [True]
    # TS2Vec's TSEncoder with 3 input channels, weights + biases: input layer, 10 blocks, output block.
    expected = (
        (3 * 64 + 64) + 10 * 2 * (64 * 64 * 3 + 64) + (64 * 320 * 3 + 320) + (320 * 320 * 3 + 320) + (64 * 320 + 320)
    )
    assert sum(p.numel() for p in encoder.parameters()) == expected


@pytest.mark.parametrize("length", [7, 29, 96])
def test_dilated_conv1d_keeps_the_length_and_sees_the_whole_window(length):
    encoder = build_backbone("dilated_conv1d", 2).eval()
    x = torch.randn(4, 2, length, requires_grad=True)
    sequence = encoder.forward_sequence(x)
    assert sequence.shape == (4, 320, length) and encoder(x).shape == (4, 320) and encoder.output_dim == 320
    # The first output step depends on the last input step: the receptive field spans the window (conv1d's
    # 19-step field does not, beyond 10 steps).
    sequence[:, :, 0].sum().backward()
    assert x.grad[:, :, -1].abs().sum() > 0
    if length > 10:
        x_local = x.detach().clone().requires_grad_(True)
        build_backbone("conv1d", 2).eval().forward_sequence(x_local)[:, :, 0].sum().backward()
        assert x_local.grad[:, :, 10:].abs().sum() == 0


def test_gru_matches_the_reference_architecture():
    gru = build_backbone("gru", 6)
    assert gru.gru.bidirectional and gru.gru.hidden_size == 100 and gru.gru.input_size == 6
    assert (gru.out.in_features, gru.out.out_features) == (200, 256)


def test_backbone_rejects_wrong_rank_and_unknown_names():
    with pytest.raises(ValueError, match=r"\(batch, channels, length\)"):
        build_backbone("conv1d", 6)(torch.randn(6, 60))
    with pytest.raises(
        UnknownNameError,
        match="unknown backbone 'resnet9000'; known: cnn5, conv1d, deeplab_resnet50, dilated_conv1d, gru, resnet18",
    ):
        BACKBONES.get("resnet9000")


def test_projection_head_layers():
    head = ProjectionHead(256, 1024, layers=3, hidden_dim=512)
    linears = [m for m in head if isinstance(m, torch.nn.Linear)]
    assert [(linear.in_features, linear.out_features) for linear in linears] == [(256, 512), (512, 512), (512, 1024)]
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in head) == 2
    assert head(torch.randn(4, 256)).shape == (4, 1024)


@pytest.mark.parametrize(
    "method,criterion",
    [
        ("barlow_twins", lambda p: BarlowTwinsLoss(p.lambda_offdiag)),
        ("vicreg", lambda p: VICRegLoss(p.sim_coeff, p.std_coeff, p.cov_coeff)),
        ("simclr", lambda p: NTXentLoss(p.temperature)),
        ("triplet", lambda p: TripletLoss(p.margin, p.mining)),
        ("margin_contrastive", lambda p: MarginContrastiveLoss(p.margin)),
    ],
)
def test_method_loss_is_its_criterion_on_projected_views(method, criterion):
    torch.manual_seed(0)
    cls = METHODS.get(method)
    model = cls(build_backbone("conv1d", 3), ProjectorSpec(64, 2), cls.Params())
    views = [torch.randn(8, 3, 40), torch.randn(8, 3, 40)]
    model.eval()  # deterministic BN so both computations see the same embeddings
    output = model(PretextBatch(torch.zeros(8, 3, 40), lambda x, n: views[:n]))
    expected = criterion(model.params)(*(model.projector(model.backbone(v)) for v in views))
    assert torch.allclose(output.loss, expected)
    with pytest.raises(ValueError, match="expects 2 views"):
        model(PretextBatch(torch.zeros(8, 3, 40), lambda x, n: views[:1]))


SELF_SUPERVISED = [name for name in METHODS.names() if not METHODS.get(name).uses_labels]
TOY_PARAMS = {"moco": {"queue_size": 64}, "wmse": {"w_size": 32}}
TOY_PROJECTOR_DIM = {"wmse": 16}  # W-MSE whitens w_size rows, so the embedding must be narrower than w_size


@pytest.mark.parametrize("method", SELF_SUPERVISED)
def test_a_few_epochs_lower_the_loss_without_collapse(method):
    torch.manual_seed(0)
    cls = METHODS.get(method)
    model = cls(
        build_backbone("conv1d", 3),
        ProjectorSpec(TOY_PROJECTOR_DIM.get(method, 128), 2),
        cls.Params(**TOY_PARAMS.get(method, {})),
        DataShape(3, 40, 4),
    )
    toy = sine_recording_windows()
    windows = torch.as_tensor(toy.x)
    loader = training_loader(toy, 32)
    loader.generator.manual_seed(0)
    augmenter = TimeSeriesAugmenter({"jitter": 0.1, "scaling": 0.1, "crop_resize": 0.3}, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = [
        train_one_epoch(model, loader, toy, augmenter, optimizer, torch.device("cpu"), e, 8)["train/loss"]
        for e in range(8)
    ]
    if method == "moco":
        # The first epoch meets a queue of random vectors (easy negatives); from the second on it is full of
        # real keys, and the task is harder: judge from there.
        assert losses[-1] < 0.9 * losses[1], losses
    else:
        assert losses[-1] < 0.8 * losses[0], losses
    model.eval()
    with torch.no_grad():
        assert embedding_std(model.backbone(windows)) > 0.05


def test_nan_loss_stops_training_with_epoch_and_step():
    cls = METHODS.get("barlow_twins")
    model = cls(build_backbone("conv1d", 3), ProjectorSpec(32, 2), cls.Params())
    toy = sine_recording_windows(n_series=10)
    toy.x[:] = float("nan")
    optimizer = torch.optim.Adam(model.parameters())
    with pytest.raises(NonFiniteLossError, match=r"loss became nan at epoch 3, step 1"):
        train_one_epoch(
            model, training_loader(toy, 32), toy, TimeSeriesAugmenter({}, seed=0), optimizer, torch.device("cpu"), 2, 5
        )


def test_per_epoch_validation_metrics_equal_the_final_evaluation():
    """ASHA judges the per-epoch objective; Optuna gets the final one: they must mean the same thing."""
    from pathlib import Path

    from selfsup.data.timeseries.prepare import prepare_data
    from selfsup.pretrain import build_method, data_shape
    from trainables.searchspace import load_sweep, split_trial_params

    spec = load_sweep(Path(__file__).resolve().parents[1] / "searchspaces" / "barlow.yaml")
    data = prepare_data(spec.data.pretext, spec.data.downstream, 50, 0.5, 0.2, spec.seed)
    torch.manual_seed(0)
    backbone = build_method(
        spec.method, *split_trial_params(spec.method, {}, spec.domain.name), data_shape(data)
    ).backbone
    names = ["val/linear/f1/frac_0.5", "val/knn/acc/frac_1.0", "val/mlp/acc/frac_0.01", "health/rankme"]
    cpu = torch.device("cpu")
    per_epoch = spec.domain.validation_metrics(backbone, data, spec.evaluation, spec.seed, cpu, names)
    final = spec.domain.evaluate(backbone, data, spec.evaluation, spec.seed, cpu, include_test=False)
    assert set(per_epoch) == {
        "val/linear/f1/frac_0.5",
        "val/knn/acc/frac_1.0",
        "val/mlp/acc/frac_0.01",
        "health/rankme",
        "health/embedding_std",
    }
    for name, value in per_epoch.items():
        assert value == pytest.approx(final[name], abs=1e-9), name


def test_per_epoch_cross_validated_objective_uses_train_and_validation_never_test():
    from pathlib import Path

    import numpy as np

    from selfsup.data.timeseries.prepare import prepare_data
    from selfsup.evaluation import cross_validated_metric
    from selfsup.evaluation.classification import embed_splits
    from selfsup.pretrain import build_method, data_shape
    from trainables.searchspace import load_sweep, split_trial_params

    spec = load_sweep(Path(__file__).resolve().parents[1] / "searchspaces" / "barlow.yaml")
    assert spec.objective.metric.startswith("cv/")
    data = prepare_data(spec.data.pretext, spec.data.downstream, 50, 0.5, 0.2, spec.seed)
    torch.manual_seed(0)
    backbone = build_method(
        spec.method, *split_trial_params(spec.method, {}, spec.domain.name), data_shape(data)
    ).backbone
    value = spec.domain.validation_metrics(
        backbone, data, spec.evaluation, spec.seed, torch.device("cpu"), [spec.objective.metric]
    )[spec.objective.metric]
    splits = embed_splits(backbone, data, torch.device("cpu"), "series", include_test=False)
    labelled = tuple(np.concatenate(parts) for parts in zip(splits.train, splits.val))
    assert len(labelled[0]) == len(data.train_series_labels) + len(data.validation_series_labels)
    assert value == pytest.approx(
        cross_validated_metric(
            spec.objective.metric,
            labelled,
            spec.seed,
            folds=spec.evaluation.cv_folds,
            repeats=spec.evaluation.cv_repeats,
        ),
        abs=1e-12,
    )
    data.test.x[:] = 0.0  # test windows are never read for selection
    again = spec.domain.validation_metrics(
        backbone, data, spec.evaluation, spec.seed, torch.device("cpu"), [spec.objective.metric]
    )
    assert again[spec.objective.metric] == value


@pytest.mark.parametrize("backbone", ["conv1d", "dilated_conv1d", "gru"])
@pytest.mark.parametrize("method", METHODS.names())
def test_every_method_trains_a_step_with_every_time_series_backbone(method, backbone):
    torch.manual_seed(0)
    cls = METHODS.get(method)
    model = cls(
        build_backbone(backbone, 3),
        ProjectorSpec(TOY_PROJECTOR_DIM.get(method, 32), 2),
        cls.Params(**TOY_PARAMS.get(method, {})),
        DataShape(3, 40, 4),
    )
    augmenter = TimeSeriesAugmenter({"jitter": 0.1, "crop_resize": 0.3}, seed=0)
    windows = sine_recording_windows()
    index = torch.randperm(len(windows))[:32]
    labels = torch.arange(32) % 4 if cls.uses_labels else None
    output = model(PretextBatch(torch.as_tensor(windows.x[index.numpy()]), augmenter.views, labels, index, windows))
    output.loss.backward()
    model.after_optimizer_step(0.1)
    assert torch.isfinite(output.loss)
    trained = [p for p in model.backbone.parameters() if p.requires_grad]
    assert trained and all(p.grad is not None and torch.isfinite(p.grad).all() for p in trained)


# ------------------------------------------------ configurations checked against the data before Ray starts
def _shipped(name: str) -> dict:
    from pathlib import Path

    import yaml

    return yaml.safe_load((Path(__file__).resolve().parents[1] / "searchspaces" / f"{name}.yaml").read_text())


def _combination_case(case: str) -> tuple[dict, list[str]]:
    """A shipped sweep whose two searched dimensions fit the data one at a time (each at each extreme with the
    other at its first) but not together, and the words its refusal must hold."""
    if case == "cpc_horizon_with_the_shortest_window":  # conv1d halves time: 30 steps -> 15 latents < 16
        spec = _shipped("cpc")
        spec["search"] = {
            "window_length": {"type": "categorical", "choices": [70, 30]},
            "prediction_steps": {"type": "int", "low": 4, "high": 16},
        }
        spec["fixed"]["backbone"] = "conv1d"
        words = [
            "prediction_steps=16, window_length=30 together",
            "cpc prediction_steps 16 does not fit windows of 30 steps",
            "15 latent steps",
        ]
    elif case == "wmse_block_with_the_smallest_batch":
        spec = _shipped("wmse")
        spec["search"] = {
            "batch_size": {"type": "categorical", "choices": [64, 16]},
            "w_size": {"type": "categorical", "choices": [8, 32]},
        }
        del spec["fixed"]["batch_size"]
        spec["fixed"]["projector_dim"] = 8
        words = ["batch_size=16, w_size=32 together", "wmse w_size 32 exceeds the batch of 16 windows"]
    else:  # a MoCo queue smaller than the largest batch
        spec = _shipped("moco")
        spec["search"] = {
            "queue_size": {"type": "categorical", "choices": [128, 32]},
            "batch_size": {"type": "categorical", "choices": [16, 64]},
        }
        del spec["fixed"]["batch_size"]
        words = ["batch_size=64, queue_size=32 together", "moco queue_size 32 is smaller than batch_size 64"]
    return spec, words


COMBINATION_CASES = [
    "cpc_horizon_with_the_shortest_window",
    "wmse_block_with_the_smallest_batch",
    "moco_queue_below_the_largest_batch",
]


@pytest.mark.parametrize("case", COMBINATION_CASES)
def test_searched_extremes_are_checked_together_before_ray(case, refused):
    from trainables.searchspace import SweepSpec
    from trainables.sweep.prepare import check_configurations_fit_data

    spec, words = _combination_case(case)
    # Each dimension alone fits: searched at both extremes with the other fixed at its first extreme.
    for key, dimension in spec["search"].items():
        ((other, other_dimension),) = [(k, d) for k, d in spec["search"].items() if k != key]
        first = other_dimension["choices"][0] if "choices" in other_dimension else other_dimension["low"]
        alone = {**spec, "search": {key: dimension}, "fixed": {**spec["fixed"], other: first}}
        check_configurations_fit_data(SweepSpec.model_validate(alone))
    message = refused(spec)
    for word in words:
        assert word in message, f"{word!r} missing from: {message}"


def test_every_method_that_checks_its_data_names_what_its_check_reads():
    """The product of extremes runs over the declared hyperparameters (and input sizes): a check that reads an
    undeclared one would be checked with it at its first extreme only."""
    for name in METHODS.names():
        cls = METHODS.get(name)
        if cls.constrains_data():
            assert cls.pretext_check_params is not None, name
            known = set(cls.Params.model_fields) | {"batch_size", "backbone", "label_fraction"}
            assert cls.pretext_check_params <= known, name


def test_the_product_is_bounded_and_a_stepped_range_checks_the_top_it_can_draw(monkeypatch):
    """Over MAX_CHECKED_COMBINATIONS, each dimension's extremes are checked alone (with a warning); an int range
    with a step draws at most the top of its grid, not ``high``."""
    import trainables.sweep.drawn_configurations as drawn_configurations
    from trainables.searchspace import Dimension, SweepSpec
    from trainables.sweep.prepare import check_configurations_fit_data

    assert Dimension(type="int", low=20, high=85, step=20).drawable_extremes() == [20, 80]
    assert Dimension(type="float", low=0.1, high=0.45, step=0.1).drawable_extremes() == [0.1, 0.4]
    assert Dimension(type="categorical", choices=[3, 1, 2]).drawable_extremes() == [3, 1, 2]
    # A queue that fits every window count the stepped range can draw (its top is 64, not 70).
    spec = _shipped("moco")
    spec["search"]["batch_size"] = {"type": "int", "low": 32, "high": 70, "step": 32}
    del spec["fixed"]["batch_size"]
    check_configurations_fit_data(SweepSpec.model_validate(spec))
    spec, _ = _combination_case("wmse_block_with_the_smallest_batch")
    monkeypatch.setattr(drawn_configurations, "MAX_CHECKED_COMBINATIONS", 3)
    with pytest.warns(UserWarning, match=r"4 combinations of the searched extremes of batch_size, w_size exceed 3"):
        check_configurations_fit_data(SweepSpec.model_validate(spec))  # the combination slips through
