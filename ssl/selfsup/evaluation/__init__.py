"""Evaluation of frozen embeddings: metric names, health (collapse) metrics, probes and the protocol."""
from selfsup.evaluation.health import embedding_std, rankme
from selfsup.evaluation.metric_names import (CLASSIFICATION_METRICS, CLASSIFICATION_PROTOCOLS, EVAL_METRICS,
                                             FINETUNE_PROTOCOL, HEALTH_METRICS, MLFLOW_KEY_PATTERN, PROTOCOLS,
                                             RANDOM_INIT_PREFIX,
                                             SEGMENTATION_METRICS, SEGMENTATION_PROTOCOLS, SPLITS, EvalMetricName,
                                             eval_metric_name, format_fraction, parse_eval_metric_name)
from selfsup.evaluation.probes import (PROBES, MLPReadout, classification_scores, knn_probe, linear_probe,
                                       mlp_readout)
from selfsup.evaluation.protocol import cross_validated_metric, evaluate_embeddings, objective_only, pool_by_series

__all__ = [
    "CLASSIFICATION_METRICS", "CLASSIFICATION_PROTOCOLS", "EVAL_METRICS", "FINETUNE_PROTOCOL", "HEALTH_METRICS",
    "MLFLOW_KEY_PATTERN", "PROTOCOLS",
    "RANDOM_INIT_PREFIX", "SEGMENTATION_METRICS", "SEGMENTATION_PROTOCOLS", "SPLITS",
    "EvalMetricName", "eval_metric_name", "format_fraction", "parse_eval_metric_name",
    "embedding_std", "rankme",
    "PROBES", "MLPReadout", "classification_scores", "knn_probe", "linear_probe", "mlp_readout",
    "cross_validated_metric", "evaluate_embeddings", "objective_only", "pool_by_series",
]
