"""Evaluation of frozen embeddings: metric names, health metrics, probes and the protocol."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from selfsup.evaluation import (
    CLASSIFICATION_METRICS,
    EVAL_METRICS,
    HEALTH_METRICS,
    PROBES,
    PROTOCOLS,
    SPLITS,
    EvalMetricName,
    classification_scores,
    cross_validated_metric,
    embedding_std,
    eval_metric_name,
    evaluate_embeddings,
    format_fraction,
    knn_probe,
    linear_probe,
    mlp_readout,
    objective_only,
    parse_eval_metric_name,
    pool_by_series,
    rankme,
)

MLFLOW_KEY = re.compile(r"^[/\w.\- ]*$")
FRACTIONS = (1.0, 0.5, 0.25, 0.1, 0.01, 0.05)
PREFIXES = ("", "random_init/")


# ------------------------------------------------------------------------------------------- metric names
@pytest.mark.parametrize(
    "fraction, text", [(1.0, "1.0"), (1, "1.0"), (0.5, "0.5"), (0.01, "0.01"), (0.25, "0.25"), (0.1, "0.1")]
)
def test_format_fraction(fraction, text):
    assert format_fraction(fraction) == text


def test_eval_metric_name_examples():
    assert eval_metric_name("val", "knn", "acc", 1.0) == "val/knn/acc/frac_1.0"
    assert eval_metric_name("test", "linear", "f1", 0.01) == "test/linear/f1/frac_0.01"
    assert (
        eval_metric_name("test", "linear", "acc", 1.0, prefix="random_init/") == "random_init/test/linear/acc/frac_1.0"
    )


def test_metric_names_round_trip_for_every_combination():
    names = set()
    for prefix, split, protocol, metric, fraction in itertools.product(
        PREFIXES, SPLITS, PROTOCOLS, EVAL_METRICS, FRACTIONS
    ):
        name = eval_metric_name(split, protocol, metric, fraction, prefix=prefix)
        assert MLFLOW_KEY.match(name), name
        parsed = parse_eval_metric_name(name)
        assert parsed == EvalMetricName(prefix, split, protocol, metric, fraction)
        assert parsed.name == name and str(parsed) == name
        names.add(name)
    assert len(names) == len(PREFIXES) * len(SPLITS) * len(PROTOCOLS) * len(EVAL_METRICS) * len(FRACTIONS)


def test_health_and_training_names_are_valid_keys_and_not_eval_metrics():
    for name in (*HEALTH_METRICS, "train/loss", "train/invariance"):
        assert MLFLOW_KEY.match(name)
        assert parse_eval_metric_name(name) is None


@pytest.mark.parametrize(
    "name",
    [
        "val/knn/acc",
        "val/knn/acc/frac_",
        "val/knn/acc/frac_1",
        "val/knn/acc/frac_abc",
        "val/knn/acc/frac_0.0",
        "val/knn/acc/frac_1.5",
        "val/knn/acc/frac_nan",
        "train/knn/acc/frac_1.0",
        "val/svm/acc/frac_1.0",
        "val/knn/auc/frac_1.0",
        "val/knn/acc/frac_1.0/extra",
        "valknn/acc/frac_1.0",
        "",
    ],
)
def test_non_eval_names_parse_to_none(name):
    assert parse_eval_metric_name(name) is None


@pytest.mark.parametrize(
    "args",
    [
        ("train", "knn", "acc", 1.0),
        ("val", "svm", "acc", 1.0),
        ("val", "knn", "auc", 1.0),
        ("val", "knn", "acc", 0.0),
        ("val", "knn", "acc", 1.5),
    ],
)
def test_eval_metric_name_rejects_unknown_parts(args):
    with pytest.raises(ValueError):
        eval_metric_name(*args)


def test_eval_metric_name_rejects_prefix_without_slash():
    with pytest.raises(ValueError):
        eval_metric_name("val", "knn", "acc", 1.0, prefix="random_init")


# ------------------------------------------------------------------------------------------------ health
def test_embedding_std_is_one_for_isotropic_gaussian():
    z = np.random.default_rng(0).normal(size=(2000, 64))
    assert embedding_std(z) == pytest.approx(1.0, abs=0.1)
    assert embedding_std(torch.as_tensor(z, dtype=torch.float32)) == pytest.approx(embedding_std(z), abs=1e-5)


def test_embedding_std_is_zero_for_collapsed_embeddings():
    rng = np.random.default_rng(0)
    z = np.tile(rng.normal(size=(1, 64)), (500, 1)) + 1e-9 * rng.normal(size=(500, 64))
    assert embedding_std(z) == pytest.approx(0.0, abs=1e-6)


def test_embedding_std_is_invariant_to_rescaling():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(300, 16)) + 0.5
    per_row_scale = rng.uniform(0.1, 100.0, size=(300, 1))
    assert embedding_std(1000.0 * z) == pytest.approx(embedding_std(z), rel=1e-9)
    assert embedding_std(per_row_scale * z) == pytest.approx(embedding_std(z), rel=1e-9)


def _naive_rankme(z: np.ndarray, eps: float = 1e-7) -> float:
    sigma = np.linalg.svd(z, compute_uv=False)
    p = sigma / sigma.sum() + eps
    return float(np.exp(-np.sum(p * np.log(p))))


def test_rankme_of_isotropic_gaussian_is_close_to_dimension():
    d = 32
    z = np.random.default_rng(0).normal(size=(5000, d))
    assert rankme(z) == pytest.approx(d, rel=0.1)
    assert rankme(z) <= d + 1e-3


def test_rankme_of_rank_one_data_is_one():
    rng = np.random.default_rng(0)
    z = np.outer(rng.normal(size=500), rng.normal(size=64))
    assert rankme(z) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("k", [2, 5, 10])
def test_rankme_of_rank_k_data_is_close_to_k(k):
    rng = np.random.default_rng(k)
    z = rng.normal(size=(2000, k)) @ rng.normal(size=(k, 64))
    assert rankme(z) == pytest.approx(k, rel=0.2)


@pytest.mark.parametrize("shape", [(200, 16), (10, 40), (50, 50)])
def test_rankme_matches_the_formula(shape):
    z = np.random.default_rng(3).normal(size=shape) * np.linspace(0.1, 3.0, shape[1])
    assert rankme(z) == pytest.approx(_naive_rankme(z), rel=1e-9)
    assert rankme(torch.as_tensor(z)) == pytest.approx(_naive_rankme(z), rel=1e-9)
    assert 1.0 <= rankme(z) <= min(shape) + 1e-3


# ------------------------------------------------------------------------------------------------ probes
def _blobs(n=600, d=8, seed=0, n_classes=3):
    x, y = make_blobs(n_samples=n, centers=n_classes, n_features=d, cluster_std=1.0, random_state=seed)
    return (x[: n // 2].astype(np.float32), y[: n // 2]), (x[n // 2 :].astype(np.float32), y[n // 2 :])


def _random_labels(n=600, d=16, seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, d)).astype(np.float32), rng.integers(0, 3, size=n)
    return (x[: n // 2], y[: n // 2]), (x[n // 2 :], y[n // 2 :])


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_probes_separate_gaussian_blobs(protocol):
    (train_x, train_y), held_out = _blobs()
    scores = PROBES[protocol](train_x, train_y, {"held_out": held_out}, 0)
    assert set(scores) == {"held_out"} and set(scores["held_out"]) == set(CLASSIFICATION_METRICS)
    assert scores["held_out"]["acc"] > 0.95
    assert scores["held_out"]["f1"] > 0.95


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_probes_stay_near_chance_on_random_labels(protocol):
    (train_x, train_y), held_out = _random_labels()
    scores = PROBES[protocol](train_x, train_y, {"held_out": held_out}, 0)
    assert 0.2 < scores["held_out"]["acc"] < 0.47


def test_probe_functions_match_the_registry():
    (train_x, train_y), held_out = _blobs()
    eval_sets = {"a": held_out, "b": (train_x, train_y)}
    assert linear_probe(train_x, train_y, eval_sets, seed=0) == PROBES["linear"](train_x, train_y, eval_sets, 0)
    assert knn_probe(train_x, train_y, eval_sets, k=5) == PROBES["knn"](train_x, train_y, eval_sets, 0, k=5)


def test_linear_probe_f1_is_sklearn_macro_f1_of_its_predictions():
    (train_x, train_y), (x, y) = _random_labels(seed=4)
    scores = linear_probe(train_x, train_y, {"val": (x, y)}, seed=0)["val"]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0, random_state=0))
    predictions = model.fit(train_x, train_y).predict(x)
    assert scores["f1"] == pytest.approx(f1_score(y, predictions, average="macro"))
    assert scores["acc"] == pytest.approx(np.mean(predictions == y))


def test_classification_scores():
    y_true, y_pred = np.array([0, 0, 1, 1, 2, 2]), np.array([0, 1, 1, 1, 2, 0])
    scores = classification_scores(y_true, y_pred)
    assert scores["acc"] == pytest.approx(4 / 6)
    assert scores["f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))


def test_mlp_readout_is_deterministic_and_leaves_global_rng_alone():
    (train_x, train_y), held_out = _random_labels(n=200)
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    first = mlp_readout(train_x, train_y, {"held_out": held_out}, seed=7, epochs=30)
    assert torch.equal(torch.rand(3), expected_next)
    second = mlp_readout(train_x, train_y, {"held_out": held_out}, seed=7, epochs=30)
    assert first == second


def test_probes_handle_tiny_training_sets_and_unseen_classes():
    (train_x, train_y), held_out = _blobs()
    one_per_class = np.array([np.flatnonzero(train_y == c)[0] for c in range(3)])
    for protocol in PROTOCOLS:
        scores = PROBES[protocol](train_x[one_per_class], train_y[one_per_class], {"h": held_out}, 0)
        assert 0.0 <= scores["h"]["acc"] <= 1.0
        only_class_0 = one_per_class[:1]  # class 1 and 2 never seen: mispredicted, not an error
        scores = PROBES[protocol](train_x[only_class_0], train_y[only_class_0], {"h": held_out}, 0)
        assert scores["h"]["acc"] == pytest.approx(np.mean(held_out[1] == 0))


# ---------------------------------------------------------------------------------------------- protocol
def test_pool_by_series_averages_windows_per_series():
    embeddings = np.array([[1.0, 2.0], [3.0, 4.0], [10.0, 0.0], [5.0, 6.0], [0.0, 1.0]], dtype=np.float32)
    series_index = np.array([7, 7, 2, 7, 2])
    pooled, order = pool_by_series(embeddings, series_index)
    np.testing.assert_array_equal(order, [2, 7])
    np.testing.assert_allclose(pooled, [[5.0, 0.5], [3.0, 4.0]])
    assert pooled.dtype == np.float32


def _embedded_splits(seed=0):
    x, y = make_blobs(n_samples=150, centers=3, n_features=8, random_state=seed)
    x = x.astype(np.float32)
    return (x[:60], y[:60]), (x[60:105], y[60:105]), (x[105:], y[105:])


def _expected_keys(splits, fractions, prefix=""):
    return {
        eval_metric_name(split, protocol, metric, fraction, prefix)
        for split, protocol, metric, fraction in itertools.product(splits, PROTOCOLS, EVAL_METRICS, fractions)
    }


@pytest.mark.parametrize("prefix", PREFIXES)
def test_evaluate_embeddings_reports_every_protocol_fraction_and_split(prefix):
    train, val, test = _embedded_splits()
    fractions = [0.1, 1.0]
    metrics = evaluate_embeddings(
        train, val, test, protocols=list(PROTOCOLS), fractions=fractions, seed=0, prefix=prefix, mlp_epochs=20
    )
    assert set(metrics) == _expected_keys(("val", "test"), fractions, prefix)
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in metrics.values())
    assert metrics[eval_metric_name("test", "linear", "acc", 1.0, prefix)] > 0.95


def test_evaluate_embeddings_without_test_omits_test_keys():
    train, val, test = _embedded_splits()
    metrics = evaluate_embeddings(
        train, val, test, protocols=list(PROTOCOLS), fractions=[0.5, 1.0], seed=0, include_test=False, mlp_epochs=20
    )
    assert set(metrics) == _expected_keys(("val",), [0.5, 1.0])


def test_test_readouts_refitted_on_training_and_validation_units():
    """``test_fit`` (evaluation.refit_on_validation): test scores are those of readouts fitted on the given
    units, drawn per fraction as from training alone; validation scores stay fitted on training units."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = make_blobs(n_samples=150, centers=3, n_features=8, cluster_std=10.0, random_state=4)
    train, val, test = (x[:30], y[:30]), (x[30:75], y[30:75]), (x[75:], y[75:])
    both = (np.concatenate([train[0], val[0]]), np.concatenate([train[1], val[1]]))
    kwargs = dict(protocols=["linear", "knn"], fractions=[0.2, 1.0], seed=0, knn_k=5)
    refitted = evaluate_embeddings(train, val, test, test_fit=both, **kwargs)
    plain = evaluate_embeddings(train, val, test, **kwargs)
    on_both = evaluate_embeddings(both, val, test, **kwargs)
    assert set(refitted) == set(plain)
    for name, value in refitted.items():
        assert value == (on_both if name.startswith("test/") else plain)[name], name
    # At 100 % labels the linear readout is a standardised logistic regression on all 75 labelled units.
    reference = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(*both)
    assert refitted["test/linear/acc/frac_1.0"] == pytest.approx(reference.score(*test), abs=0.02)
    assert refitted["test/linear/acc/frac_1.0"] != plain["test/linear/acc/frac_1.0"]  # 75 units, not 30


def test_evaluate_embeddings_uses_the_given_subset_selector():
    train, val, test = _embedded_splits()
    calls = []

    def first_rows(labels, fractions, seed):
        calls.append((list(fractions), seed))
        return {f: np.arange(max(3, math.ceil(f * len(labels)))) for f in fractions}

    metrics = evaluate_embeddings(
        train, val, test, protocols=["knn"], fractions=[0.5], seed=3, select_labelled=first_rows
    )
    assert calls == [([0.5], 3)]
    expected = knn_probe(train[0][:30], train[1][:30], {"val": val, "test": test})
    assert metrics["val/knn/acc/frac_0.5"] == expected["val"]["acc"]
    assert metrics["test/knn/f1/frac_0.5"] == expected["test"]["f1"]


def test_evaluate_embeddings_rejects_unknown_protocol():
    train, val, test = _embedded_splits()
    with pytest.raises(ValueError, match="svm"):
        evaluate_embeddings(train, val, test, protocols=["svm"], fractions=[1.0], seed=0)


def test_objective_only_matches_the_full_evaluation():
    train, val, test = _embedded_splits()
    name = "val/knn/acc/frac_1.0"
    full = evaluate_embeddings(train, val, test, protocols=["knn"], fractions=[1.0], seed=0)
    assert objective_only(name, train, val, seed=0) == pytest.approx(full[name])


@pytest.mark.parametrize("name", ["test/knn/acc/frac_1.0", "random_init/val/knn/acc/frac_1.0", "health/rankme"])
def test_objective_only_rejects_non_validation_metrics(name):
    train, val, _ = _embedded_splits()
    with pytest.raises(ValueError):
        objective_only(name, train, val, seed=0)


# --------------------------------------------------------------------------------------- cross-validation
def _naive_cross_validation(x, y, protocol_fit_score, fraction, seed, folds, repeats):
    """The cv/ formula written out: seeded stratified folds, a label-fraction subset of the other folds per
    class (ceil(fraction x count), at least one, from one seeded permutation per class), mean over folds."""
    from sklearn.model_selection import StratifiedKFold

    scores = []
    for repeat in range(repeats):
        for fit_part, held_out in StratifiedKFold(folds, shuffle=True, random_state=seed + repeat).split(x, y):
            rng = np.random.default_rng(seed + repeat)
            chosen = []
            for label in np.unique(y[fit_part]):
                members = rng.permutation(np.flatnonzero(y[fit_part] == label))
                chosen.extend(members[: max(1, math.ceil(fraction * len(members) - 1e-9))])
            chosen = fit_part[np.sort(np.asarray(chosen))]
            scores.append(protocol_fit_score(x[chosen], y[chosen], x[held_out], y[held_out], seed + repeat))
    return sum(scores) / len(scores)


def _linear_accuracy(fit_x, fit_y, eval_x, eval_y, seed):
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0, random_state=seed))
    return float(np.mean(model.fit(fit_x, fit_y).predict(eval_x) == eval_y))


@pytest.mark.parametrize("fraction,folds,repeats", [(1.0, 5, 1), (0.5, 3, 2), (0.1, 4, 3)])
def test_cross_validated_metric_matches_the_written_out_formula(fraction, folds, repeats):
    x, y = make_blobs(n_samples=90, centers=3, n_features=6, cluster_std=4.0, random_state=1)
    name = eval_metric_name("cv", "linear", "acc", fraction)
    value = cross_validated_metric(name, (x, y), seed=7, folds=folds, repeats=repeats)
    expected = _naive_cross_validation(x, y, _linear_accuracy, fraction, 7, folds, repeats)
    assert value == pytest.approx(expected, abs=1e-12)
    assert 0.3 < value < 1.0  # overlapping blobs: neither chance nor perfect


def test_cross_validated_metric_caps_folds_at_the_smallest_class_and_is_less_noisy_than_one_split():
    x, y = make_blobs(n_samples=40, centers=2, n_features=4, cluster_std=5.0, random_state=3)
    y[:3] = 2  # a class with three members: five folds cannot all hold one
    name = eval_metric_name("cv", "knn", "f1", 1.0)
    value = cross_validated_metric(name, (x, y), seed=0, folds=5, repeats=2, knn_k=5)
    assert 0 <= value <= 1
    # Over 20 seeds, the cv value of one data set varies far less than single 20 % validation splits do.
    cv_values = [
        cross_validated_metric(eval_metric_name("cv", "linear", "acc", 1.0), (x, y), seed=s) for s in range(20)
    ]
    split_values = []
    for s in range(20):
        order = np.random.default_rng(s).permutation(len(x))
        held, fit = order[:8], order[8:]
        split_values.append(_linear_accuracy(x[fit], y[fit], x[held], y[held], s))
    assert np.std(cv_values) < 0.5 * np.std(split_values)


@pytest.mark.parametrize(
    "name",
    ["val/linear/acc/frac_1.0", "test/linear/acc/frac_1.0", "random_init/cv/linear/acc/frac_1.0", "cv/linear/acc"],
)
def test_cross_validated_metric_refuses_other_names(name):
    x, y = make_blobs(n_samples=30, centers=2, random_state=0)
    with pytest.raises(ValueError, match="not a cross-validated metric"):
        cross_validated_metric(name, (x, y), seed=0)


def test_top5_accuracy_against_a_naive_ranking():
    from selfsup.evaluation.probes import classification_scores

    rng = np.random.default_rng(0)
    scores = rng.normal(size=(40, 9))
    y_true = rng.integers(0, 9, size=40)
    naive = np.mean([y in sorted(range(9), key=lambda c: -row[c])[:5] for row, y in zip(scores, y_true)])
    assert classification_scores(y_true, scores.argmax(1), scores)["top5"] == pytest.approx(naive)
    # Five classes or fewer: the true class is always among the top five.
    assert classification_scores(y_true % 4, y_true % 4, scores[:, :4])["top5"] == 1.0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_top5_counts_classes_the_label_subset_never_showed(protocol):
    """A probe fitted on 6 of 8 classes never ranks the other two: their examples count as top-5 misses."""
    (train_x, train_y), (x, y) = _blobs(n_classes=8)
    seen = train_y < 6
    scores = PROBES[protocol](train_x[seen], train_y[seen], {"held_out": (x, y)}, 0)["held_out"]
    assert scores["top5"] <= np.mean(y < 6) + 1e-9 and scores["top5"] > 0.5


def test_embedding_table_holds_every_split_capped_and_reduced_by_pca():
    """The trial's stored t-SNE input: units of each split (at most rows_per_split, seeded), class names,
    features reduced to 50 principal components when wider."""
    from selfsup.backbones import build_backbone
    from selfsup.evaluation.classification import embedding_table
    from trainables.searchspace import SweepSpec

    spec = SweepSpec.model_validate(
        {"name": "t", "method": "simclr", "data": {"pretext": {"source": "digits"}, "downstream": {"source": "digits"}}}
    )
    data = spec.domain.prepare_data(**spec.domain.data_arguments(spec.data, 0, spec.default_params()))
    torch.manual_seed(0)
    backbone = build_backbone("cnn5", 1)
    table = embedding_table(backbone, data, torch.device("cpu"), "example", seed=0, rows_per_split=250)
    again = embedding_table(backbone, data, torch.device("cpu"), "example", seed=0, rows_per_split=250)
    assert table.groupby("split").size().to_dict() == {"train": 250, "validation": 250, "test": 250}
    assert list(table.columns[:3]) == ["split", "label", "unit"] and list(table.columns[3:]) == [
        f"f{i}" for i in range(50)
    ]
    assert set(table["label"]) == set(data.class_names)
    test_rows = table[table["split"] == "test"]
    assert (test_rows["label"].to_numpy() == np.asarray(data.class_names)[data.test.y[test_rows["unit"]]]).all()
    pd.testing.assert_frame_equal(table, again)
    narrow = embedding_table(backbone, data, torch.device("cpu"), "example", seed=0, rows_per_split=20, dimensions=512)
    assert narrow.shape == (60, 3 + backbone.output_dim)  # narrower than the cap: the features themselves


def test_a_backbone_that_embeds_as_nan_or_inf_is_a_training_failure():
    """Training can leave weights that overflow: the evaluation names it (the trial fails with that reason)
    instead of a probe or an SVD failing on NaN further in."""
    from selfsup.evaluation.classification import embed
    from selfsup.evaluation.segmentation import _features
    from selfsup.failures import NonFiniteEmbeddingsError

    class Overflowing(torch.nn.Module):
        feature_channels = 2

        def forward(self, x):
            return torch.full((len(x), 4), math.inf)

        def forward_features(self, x):
            return torch.full((len(x), 2, 3, 3), math.nan)

    x = np.zeros((5, 1, 8), dtype=np.float32)
    assert embed(torch.nn.Flatten(), x, torch.device("cpu")).shape == (5, 8)
    with pytest.raises(NonFiniteEmbeddingsError, match="NaN or infinite"):
        embed(Overflowing(), x, torch.device("cpu"))
    with pytest.raises(NonFiniteEmbeddingsError, match="NaN or infinite"):
        _features(Overflowing(), np.zeros((2, 1, 3, 3), dtype=np.float32), torch.device("cpu"))
