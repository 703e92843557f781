"""The ``finetune`` classification protocol (images and time series): a copy of the backbone and a linear head
trained end to end on the probes' labelled subset at each label fraction, scored like the frozen probes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import selfsup.data.splits as splits_module
from selfsup.backbones import build_backbone
from selfsup.data.prepared import PreparedData
from selfsup.data.splits import label_fraction_indices
from selfsup.data.timeseries.series import SeriesSet
from selfsup.data.timeseries.sliding_windows import sliding_windows
from selfsup.data.windows import Windows
from selfsup.domains import DOMAINS
from selfsup.evaluation import (
    CLASSIFICATION_METRICS,
    EVAL_METRICS,
    EvalMetricName,
    eval_metric_name,
    parse_eval_metric_name,
    pool_by_series,
)
from selfsup.evaluation.classification import (
    classification_validation_metrics,
    embed,
    embed_splits,
    evaluate_classification,
)
from selfsup.evaluation.finetune import finetune_model, fraction_subsets, unit_logits
from trainables.searchspace import SweepSpec

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models on a shared machine: one intra-op thread is faster than contending for several."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


DIGITS = {"source": "digits"}
BASIC = {"source": "aeon", "name": "BasicMotions"}
SYNTHETIC = {"source": "synthetic_seismic"}


def _spec(data=DIGITS, backbone="cnn5", objective=None, **evaluation) -> SweepSpec:
    raw = {
        "name": "t",
        "method": "simclr",
        "data": {"pretext": dict(data), "downstream": dict(data)},
        "fixed": {"backbone": backbone},
        "evaluation": {"compare_random_init": False, **evaluation},
    }
    if objective:
        raw["objective"] = {"metric": objective}
    return SweepSpec.model_validate(raw)


def _prepared(parts: dict[str, Windows], series_labels: dict[str, np.ndarray], n_classes: int) -> PreparedData:
    return PreparedData(
        train=parts["train"],
        validation=parts["validation"],
        test=parts["test"],
        pretext=parts["train"],
        n_channels=1,
        n_classes=n_classes,
        class_names=[str(c) for c in range(n_classes)],
        train_series_labels=series_labels["train"],
        validation_series_labels=series_labels["validation"],
        test_series_labels=series_labels["test"],
    )


def _stripe_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """8x8 one-channel images: faint vertical (class 0) or horizontal (class 1) stripes of random sign under a
    bright square at a random place. Random conv features are dominated by the square; training finds the
    stripes."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = 0.3 * rng.standard_normal((n, 1, 8, 8)).astype(np.float32)
    stripes = np.tile(np.array([1, -1] * 4, np.float32), (8, 1))
    for i, label in enumerate(y):
        x[i, 0] += 0.3 * (stripes if label == 0 else stripes.T) * rng.choice([-1, 1])
        row, column = rng.integers(0, 6, 2)
        x[i, 0, row : row + 3, column : column + 3] += 2.0 * rng.uniform(0.5, 1.5)
    return x, y.astype(np.int64)


def _images(seed: int = 0, sizes=(160, 80, 160)) -> PreparedData:
    parts = {}
    for offset, (name, n) in enumerate(zip(("train", "validation", "test"), sizes)):
        x, y = _stripe_images(n, seed + offset)
        parts[name] = Windows(x, y, np.arange(n, dtype=np.int64), name=name)
    return _prepared(parts, {name: part.y for name, part in parts.items()}, 2)


def _alternating_series(n: int, seed: int, length: int = 32) -> SeriesSet:
    """Series with a faint square wave of period 2 (class 0) or 4 (class 1), random phase and sign, under two
    tall bumps at random places."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    t = np.arange(length)
    series = []
    for label in y:
        period = 2 if label == 0 else 4
        wave = np.sign(np.sin(2 * np.pi * (t + rng.integers(0, period)) / period + 1e-3))
        s = 0.3 * wave * rng.choice([-1, 1]) + 0.3 * rng.standard_normal(length)
        for _ in range(2):
            start = rng.integers(0, length - 4)
            s[start : start + 4] += 4.0 * rng.uniform(0.5, 1.5)
        series.append(s[None].astype(np.float32))
    return SeriesSet(series, y.astype(np.int64))


def _series(seed: int = 0, sizes=(60, 30, 60)) -> PreparedData:
    """Windows of 16 steps, half overlapping: three windows per series, each labelled with its series."""
    parts, labels = {}, {}
    for offset, (name, n) in enumerate(zip(("train", "validation", "test"), sizes)):
        series = _alternating_series(n, seed + offset)
        parts[name], labels[name] = sliding_windows(series, 16, 0.5, name), series.labels
    return _prepared(parts, labels, 2)


def _backbone(name: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_backbone(name, 1)


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in module.state_dict().items()}


def _unchanged(module: torch.nn.Module, before: dict[str, torch.Tensor]) -> bool:
    after = module.state_dict()
    return after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)


# ------------------------------------------------------------------------------------------------ learning
@pytest.mark.parametrize(
    "domain, backbone, unit, make_data",
    [
        ("images", "cnn5", "example", _images),
        ("timeseries", "conv1d", "series", _series),
    ],
)
def test_finetuning_learns_what_frozen_random_features_miss_and_leaves_the_backbone_alone(
    domain, backbone, unit, make_data
):
    data = make_data()
    spec = _spec(
        DIGITS if domain == "images" else BASIC,
        backbone,
        protocols=["linear", "knn", "finetune"],
        label_fractions=[0.5, 1.0],
        finetune_epochs=20,
    )
    metrics = DOMAINS.get(domain).metrics
    model = _backbone(backbone)
    before, rng_before = _state(model), torch.get_rng_state()
    scores = evaluate_classification(model, data, spec.evaluation, spec.seed, CPU, unit, metrics, include_test=True)

    # The scheme's names, for every split, metric and fraction, beside the probes'.
    expected = {
        eval_metric_name(split, protocol, metric, fraction)
        for split in ("val", "test")
        for protocol in ("linear", "knn", "finetune")
        for metric in metrics
        for fraction in (0.5, 1.0)
    }
    assert expected <= set(scores) and all(np.isfinite(scores[name]) for name in expected)
    if domain == "images":
        assert "test/finetune/top5/frac_0.5" in scores
    else:
        assert not any("top5" in name for name in scores)
    # The untrained backbone's features do not show the faint pattern to a linear probe; fine-tuning finds it.
    finetuned, linear = scores["test/finetune/acc/frac_1.0"], scores["test/linear/acc/frac_1.0"]
    assert finetuned >= 0.85 and finetuned >= linear + 0.1, (finetuned, linear)
    assert scores["test/finetune/acc/frac_0.5"] >= 0.7  # chance is 0.5
    # A deep copy was trained: the caller's weights, BatchNorm statistics, mode and random state are untouched.
    assert _unchanged(model, before) and model.training
    assert torch.equal(torch.get_rng_state(), rng_before)


def test_the_untrained_baseline_is_prefixed_and_has_no_health_metrics():
    spec = _spec(
        protocols=["finetune"], label_fractions=[1.0], finetune_epochs=2, objective="val/finetune/acc/frac_1.0"
    )
    scores = evaluate_classification(
        _backbone("cnn5"),
        _images(sizes=(40, 20, 20)),
        spec.evaluation,
        spec.seed,
        CPU,
        "example",
        CLASSIFICATION_METRICS,
        include_test=True,
        prefix="random_init/",
    )
    assert set(scores) == {
        f"random_init/{split}/finetune/{metric}/frac_1.0"
        for split in ("val", "test")
        for metric in CLASSIFICATION_METRICS
    }


def test_the_same_seed_gives_the_same_metrics():
    data = _series(sizes=(30, 15, 15))
    spec = _spec(
        BASIC,
        "conv1d",
        protocols=["finetune"],
        label_fractions=[0.5, 1.0],
        finetune_epochs=3,
        objective="val/finetune/acc/frac_1.0",
    )
    first = evaluate_classification(
        _backbone("conv1d"), data, spec.evaluation, spec.seed, CPU, "series", EVAL_METRICS, include_test=True
    )
    torch.manual_seed(123)  # the caller's random state does not matter
    second = evaluate_classification(
        _backbone("conv1d"), data, spec.evaluation, spec.seed, CPU, "series", EVAL_METRICS, include_test=True
    )
    assert first == second
    # Bit for bit: the fine-tuned weights themselves are equal.
    chosen = fraction_subsets(data.train, data.train_series_labels, "series", [0.5], spec.seed)[0.5]
    models = [
        finetune_model(
            _backbone("conv1d"), data.train.x[chosen], data.train.y[chosen], 2, spec.evaluation, spec.seed, CPU
        )
        for _ in range(2)
    ]
    assert all(torch.equal(a, b) for a, b in zip(models[0].state_dict().values(), models[1].state_dict().values()))


# ------------------------------------------------------------------------------------------ like with like
@pytest.mark.parametrize("unit", ["series", "window"])
def test_each_fraction_finetunes_on_the_units_the_probes_fit_on(unit):
    data = _series(sizes=(40, 10, 10))
    fractions = [0.1, 0.5, 1.0]
    probe_units = embed_splits(_backbone("conv1d"), data, CPU, unit, include_test=False).train[1]
    probe_subsets = label_fraction_indices(probe_units, fractions, seed=3)  # what evaluate_embeddings draws
    subsets = fraction_subsets(data.train, data.train_series_labels, unit, fractions, seed=3)
    series_order = np.unique(data.train.series_index)
    for fraction in fractions:
        if unit == "series":  # every window of exactly the probes' series
            chosen_series = series_order[probe_subsets[fraction]]
            assert np.array_equal(np.unique(data.train.series_index[subsets[fraction]]), chosen_series)
            assert np.array_equal(subsets[fraction], np.flatnonzero(np.isin(data.train.series_index, chosen_series)))
        else:
            assert np.array_equal(subsets[fraction], probe_subsets[fraction])
    assert set(subsets[0.1]) <= set(subsets[0.5]) <= set(subsets[1.0])  # nested, as the probes' subsets


def test_probes_and_finetuning_draw_their_subsets_from_one_call_pattern(monkeypatch):
    """End to end: both protocols ask the same selector the same question (unit labels, fractions, seed)."""
    calls = []

    def recording(labels, fractions, seed):
        calls.append((np.asarray(labels).copy(), list(fractions), seed))
        return label_fraction_indices(labels, fractions, seed)

    monkeypatch.setattr(splits_module, "label_fraction_indices", recording)
    spec = _spec(BASIC, "conv1d", protocols=["linear", "finetune"], label_fractions=[0.5], finetune_epochs=1)
    evaluate_classification(
        _backbone("conv1d"),
        _series(sizes=(20, 10, 10)),
        spec.evaluation,
        spec.seed,
        CPU,
        "series",
        EVAL_METRICS,
        include_test=False,
    )
    assert len(calls) == 2
    (probe_labels, *probe_rest), (finetune_labels, *finetune_rest) = calls
    assert np.array_equal(probe_labels, finetune_labels) and probe_rest == finetune_rest == [[0.5], spec.seed]


def test_series_are_scored_on_mean_logits_which_is_the_head_on_the_mean_window_embedding():
    data = _series(sizes=(20, 10, 10))
    spec = _spec(BASIC, "conv1d", protocols=["finetune"], finetune_epochs=2, objective="val/finetune/acc/frac_1.0")
    model = finetune_model(_backbone("conv1d"), data.train.x, data.train.y, 2, spec.evaluation, 0, CPU)
    logits, labels = unit_logits(model, data.validation, data.validation_series_labels, "series", CPU)
    pooled, order = pool_by_series(embed(model.backbone, data.validation.x, CPU), data.validation.series_index)
    with torch.no_grad():
        expected = model.head(torch.as_tensor(pooled)).numpy()
    assert logits.shape == (10, 2) and np.array_equal(labels, data.validation_series_labels[order])
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------- per-epoch path
def test_a_val_finetune_objective_is_computed_per_epoch_as_in_the_final_evaluation():
    data = _images(sizes=(40, 20, 20))
    spec = _spec(
        protocols=["linear", "finetune"],
        label_fractions=[0.5, 1.0],
        finetune_epochs=3,
        objective="val/finetune/f1/frac_0.5",
    )
    final = evaluate_classification(
        _backbone("cnn5"), data, spec.evaluation, spec.seed, CPU, "example", CLASSIFICATION_METRICS, include_test=False
    )
    per_epoch = classification_validation_metrics(
        _backbone("cnn5"),
        data,
        spec.evaluation,
        spec.seed,
        CPU,
        "example",
        ["val/finetune/f1/frac_0.5", "val/linear/acc/frac_1.0"],
    )
    assert per_epoch["val/finetune/f1/frac_0.5"] == final["val/finetune/f1/frac_0.5"]
    assert per_epoch["val/linear/acc/frac_1.0"] == final["val/linear/acc/frac_1.0"]
    assert not any("finetune" in name and name != "val/finetune/f1/frac_0.5" for name in per_epoch)
    with pytest.raises(ValueError, match="fine-tuning is scored on the validation split only"):
        classification_validation_metrics(
            _backbone("cnn5"), data, spec.evaluation, spec.seed, CPU, "example", ["cv/finetune/acc/frac_0.5"]
        )


# ---------------------------------------------------------------------------------------- configuration
def test_finetune_is_an_opt_in_classification_protocol():
    for data, backbone in ((DIGITS, "cnn5"), (BASIC, "conv1d")):
        spec = _spec(data, backbone, protocols=["linear", "knn", "finetune"], objective="val/finetune/acc/frac_1.0")
        assert spec.evaluation.protocols == ["linear", "knn", "finetune"]
        assert "finetune" not in _spec(data, backbone).evaluation.protocols  # never a default
        assert "finetune" not in spec.domain.default_protocols
    options = _spec().evaluation
    assert (
        options.finetune_epochs,
        options.finetune_lr,
        options.finetune_backbone_lr,
        options.finetune_batch_size,
        options.finetune_weight_decay,
    ) == (20, 1e-3, None, 64, 0.0)
    with pytest.raises(ValueError, match="finetune_lr"):
        _spec(protocols=["finetune"], finetune_lr=0)


def test_seismic_refuses_finetune_and_points_to_seg_finetune():
    with pytest.raises(ValueError) as error:
        _spec(SYNTHETIC, "cnn5", protocols=["seg_frozen", "finetune"])
    message = str(error.value)
    assert "'finetune' does not apply to data synthetic_seismic, which is seismic sections (segmentation)" in message
    assert "seg_finetune" in message
    with pytest.raises(
        ValueError, match="'seg_finetune' does not apply to data digits.*fine-tuning on images is 'finetune'"
    ):
        _spec(protocols=["seg_finetune"])


def test_a_cross_validated_finetune_objective_is_refused():
    with pytest.raises(ValueError, match="fine-tuning is not cross-validated.*val/finetune/f1/frac_<fraction>"):
        _spec(BASIC, "conv1d", protocols=["linear", "finetune"], objective="cv/finetune/f1/frac_0.1")


def test_finetune_metric_names_parse():
    assert parse_eval_metric_name("test/finetune/acc/frac_0.1") == EvalMetricName("", "test", "finetune", "acc", 0.1)
    assert parse_eval_metric_name("random_init/val/finetune/top5/frac_1.0") == EvalMetricName(
        "random_init/", "val", "finetune", "top5", 1.0
    )
    assert (
        eval_metric_name("test", "finetune", "f1", 0.01, prefix="random_init/")
        == "random_init/test/finetune/f1/frac_0.01"
    )
