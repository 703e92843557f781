"""Evaluation of frozen embeddings: metric names, health (collapse) metrics, probes and the protocol."""

from selfsup.evaluation.health import embedding_std, rankme
from selfsup.evaluation.metric_names import (
    CLASSIFICATION_METRICS,
    CLASSIFICATION_PROTOCOLS,
    EVAL_METRICS,
    FINETUNE_PROTOCOL,
    HEALTH_METRICS,
    MLFLOW_KEY_PATTERN,
    PROTOCOLS,
    RANDOM_INIT_PREFIX,
    SEGMENTATION_METRICS,
    SEGMENTATION_PROTOCOLS,
    SPLITS,
    EvalMetricName,
    eval_metric_name,
    format_fraction,
    parse_eval_metric_name,
)

# The probes and the protocol import scikit-learn (about half a second): loaded on first use (PEP 562), so a
# process that only needs metric names (every Ray Train worker but rank 0, the launching Tune trial, the
# driver validating a search space) does not pay for it.
_LAZY = {
    name: "selfsup.evaluation.probes"
    for name in ("PROBES", "MLPReadout", "classification_scores", "knn_probe", "linear_probe", "mlp_readout")
}
_LAZY.update(
    {
        name: "selfsup.evaluation.protocol"
        for name in ("cross_validated_metric", "evaluate_embeddings", "objective_only", "pool_by_series")
    }
)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CLASSIFICATION_METRICS",
    "CLASSIFICATION_PROTOCOLS",
    "EVAL_METRICS",
    "FINETUNE_PROTOCOL",
    "HEALTH_METRICS",
    "MLFLOW_KEY_PATTERN",
    "PROTOCOLS",
    "RANDOM_INIT_PREFIX",
    "SEGMENTATION_METRICS",
    "SEGMENTATION_PROTOCOLS",
    "SPLITS",
    "EvalMetricName",
    "eval_metric_name",
    "format_fraction",
    "parse_eval_metric_name",
    "embedding_std",
    "rankme",
    "PROBES",
    "MLPReadout",
    "classification_scores",
    "knn_probe",
    "linear_probe",
    "mlp_readout",
    "cross_validated_metric",
    "evaluate_embeddings",
    "objective_only",
    "pool_by_series",
]
