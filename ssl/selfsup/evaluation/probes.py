"""Readouts trained on frozen embeddings: linear probe, kNN and a small MLP.

Every probe fits on ``(train_x, train_y)`` and scores each evaluation set::

    probe(train_x, train_y, eval_sets={"val": (x, y), "test": (x, y)}, seed) -> {"val": {"acc": .., "f1": ..}, ...}

``acc`` is accuracy, ``f1`` macro-F1 over the classes present in y_true or y_pred, and ``top5`` top-5
accuracy (the true class among the five highest-scoring ones; 1 when there are at most five classes; the
image domain records it). Labels are ints 0..C-1; classes of an evaluation set that the (label-fraction)
training subset never shows are simply mispredicted (and never ranked in the top five).
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, top_k_accuracy_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

EvalSets = Mapping[str, tuple[np.ndarray, np.ndarray]]
Scores = dict[str, dict[str, float]]
Probe = Callable[..., Scores]


def classification_scores(
    y_true: np.ndarray, y_pred: np.ndarray, class_scores: np.ndarray | None = None
) -> dict[str, float]:
    """``{"acc": accuracy, "f1": macro-F1[, "top5": top-5 accuracy]}``; macro-F1 averages over the classes in
    y_true ∪ y_pred; ``class_scores`` (n, C), one column per class index 0..C-1 (higher = more likely), gives
    ``top5``."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) == 0:
        return {"acc": float("nan"), "f1": float("nan"), "top5": float("nan")}
    labels = np.union1d(y_true, y_pred)
    scores = {
        "acc": float(accuracy_score(y_true, y_pred)),
        "f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
    }
    if class_scores is not None:
        n_classes = class_scores.shape[1]
        scores["top5"] = (
            1.0
            if n_classes <= 5
            else float(top_k_accuracy_score(y_true, class_scores, k=5, labels=np.arange(n_classes)))
        )
    return scores


def _full_class_scores(scores: np.ndarray, fitted_classes: np.ndarray, n_classes: int) -> np.ndarray:
    """Scores of a model fitted on some classes spread over all ``n_classes`` columns; a class the model never
    saw scores below every class it did."""
    full = np.full((len(scores), n_classes), np.min(scores, initial=0.0) - 1.0)
    full[:, fitted_classes] = scores
    return full


def _score_eval_sets(
    predict: Callable[[np.ndarray], np.ndarray],
    eval_sets: EvalSets,
    score: Callable[[np.ndarray], np.ndarray] | None = None,
    fitted_classes: np.ndarray | None = None,
    train_y: np.ndarray | None = None,
) -> Scores:
    """Scores of ``predict`` on every evaluation set; with ``score`` (x -> (n, len(fitted_classes)) class
    scores) also top-5 accuracy over every class seen in training or evaluation."""
    n_classes = 1 + max(
        [int(np.max(train_y)) if train_y is not None and len(train_y) else 0]
        + [int(np.max(y)) for _, y in eval_sets.values() if len(y)]
    )
    results = {}
    for name, (x, y) in eval_sets.items():
        if not len(x):
            results[name] = classification_scores(y, np.empty(0, dtype=np.int64))
            continue
        ranked = None
        if score is not None:
            assert fitted_classes is not None, "score needs the fitted_classes its columns are"
            ranked = _full_class_scores(score(x), fitted_classes, n_classes)
        results[name] = classification_scores(y, predict(x), ranked)
    return results


def _single_class(train_y: np.ndarray) -> int | None:
    """The only class of a training set that has one, else None (classifiers need two to fit)."""
    classes = np.unique(train_y)
    return int(classes[0]) if len(classes) == 1 else None


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, eval_sets: EvalSets, seed: int) -> Scores:
    """Linear probe: StandardScaler + multinomial LogisticRegression (C=1, lbfgs, max_iter=2000)."""
    only_class = _single_class(train_y)
    if only_class is not None:
        return _score_eval_sets(
            lambda x: np.full(len(x), only_class),
            eval_sets,
            lambda x: np.ones((len(x), 1)),
            np.array([only_class]),
            train_y,
        )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0, random_state=seed))
    model.fit(train_x, train_y)
    return _score_eval_sets(model.predict, eval_sets, model.predict_proba, model.classes_, train_y)


def knn_probe(train_x: np.ndarray, train_y: np.ndarray, eval_sets: EvalSets, k: int = 20) -> Scores:
    """k-nearest-neighbour readout: cosine distance, votes weighted by 1 / distance, k <= len(train)."""
    model = KNeighborsClassifier(n_neighbors=min(k, len(train_x)), metric="cosine", weights="distance")
    model.fit(train_x, train_y)
    return _score_eval_sets(model.predict, eval_sets, model.predict_proba, model.classes_, train_y)


class MLPReadout(nn.Sequential):
    """The readout head: Linear(d, h) -> BatchNorm1d(h) -> ReLU -> Linear(h, h) -> ReLU -> Linear(h, C)."""

    def __init__(self, in_dim: int, hidden: int, n_classes: int) -> None:
        super().__init__(
            nn.Linear(in_dim, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, n_classes),
        )


def mlp_readout(
    train_x: np.ndarray,
    train_y: np.ndarray,
    eval_sets: EvalSets,
    seed: int,
    epochs: int = 200,
    hidden: int = 256,
    lr: float = 1e-3,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
) -> Scores:
    """MLP readout (``MLPReadout``) trained with Adam + cross-entropy on standardised features.

    Features are standardised with the training mean and std; training runs ``epochs`` passes of
    shuffled mini-batches of at most ``batch_size`` rows (full batch for small sets; batches are balanced
    so none has the single row BatchNorm cannot normalise). A one-row training set is duplicated.
    Seeded and deterministic on CPU; the global torch RNG is left untouched.
    """
    train_x = np.asarray(train_x, dtype=np.float32)
    train_y = np.asarray(train_y, dtype=np.int64)
    if len(train_x) == 1:
        train_x, train_y = np.repeat(train_x, 2, axis=0), np.repeat(train_y, 2)
    mean = train_x.mean(axis=0)
    std = train_x.std(axis=0)
    std = np.where(std > 1e-8, std, 1.0).astype(np.float32)

    def standardise(x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor((np.asarray(x, dtype=np.float32) - mean) / std, device=device)

    n_classes = int(train_y.max()) + 1
    x, y = standardise(train_x), torch.as_tensor(train_y, device=device)
    n_batches = -(-len(x) // batch_size)
    # Only the CPU generator is forked and seeded: initialisation and shuffling draw from it, on any device.
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        model = MLPReadout(x.shape[1], hidden, n_classes).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        loss_fn = nn.CrossEntropyLoss()
        model.train()
        for _ in range(epochs):
            for batch in torch.tensor_split(torch.randperm(len(x)), n_batches):
                batch = batch.to(device)
                loss = loss_fn(model(x[batch]), y[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
    model.eval()

    @torch.no_grad()
    def logits(eval_x: np.ndarray) -> np.ndarray:
        return model(standardise(eval_x)).float().cpu().numpy()

    return _score_eval_sets(lambda x: logits(x).argmax(axis=1), eval_sets, logits, np.arange(n_classes), train_y)


def _knn_probe_seeded(train_x: np.ndarray, train_y: np.ndarray, eval_sets: EvalSets, seed: int, k: int = 20) -> Scores:
    """``knn_probe`` with the common probe signature (kNN has no randomness; the seed is unused)."""
    return knn_probe(train_x, train_y, eval_sets, k=k)


# protocol name -> probe(train_x, train_y, eval_sets, seed, **options) -> {eval set: {"acc", "f1"}}
PROBES: dict[str, Probe] = {"linear": linear_probe, "knn": _knn_probe_seeded, "mlp": mlp_readout}
