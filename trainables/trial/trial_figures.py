"""A finished trial's own figures, drawn in its process at its end and logged with its MLflow run (``figures/``), so
MLflow's artifact view shows them beside the trial's metrics: the t-SNE map of its frozen embeddings (train,
validation and test units on one map, coloured by class) and, where it was scored at several label fractions, its
test score against the fraction beside the same backbone untrained, one colour per protocol.

Drawn where the trial ran, in parallel with the other trials, rather than by the driver at the sweep's end; the
report draws the same figures for the trials it selects (``trainables.report``), with more units per split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import pandas as pd

from selfsup.evaluation.metric_names import RANDOM_INIT_PREFIX, parse_eval_metric_name
from trainables.figures import label_fraction_figure, save_figure, subsample_splits, tsne_figure
from trainables.records.results import LABEL_FRACTION_FIGURE_FILE, TSNE_FIGURE_FILE

# Units per split on a trial's t-SNE map: t-SNE's time grows faster than linearly (about 1 s at 300 units on
# one core), and every finished trial draws one.
TRIAL_TSNE_MAX_PER_SPLIT = 100


def draw_trial_figures(
    directory: str | Path, title: str, embeddings: pd.DataFrame | None, metrics: Mapping[str, float], metric: str
) -> list[Path]:
    """Write the trial's figures into ``directory`` as PNG: ``TSNE_FIGURE_FILE`` where it has ``embeddings``
    (``Domain.embedding_table``) of at least 4 units, ``LABEL_FRACTION_FIGURE_FILE`` where ``metrics`` hold its
    test ``metric`` (e.g. "acc", "miou") at two label fractions or more. ``title`` names the trial."""
    written = []
    if embeddings is not None and len(embeddings) >= 4:
        table = subsample_splits(embeddings, TRIAL_TSNE_MAX_PER_SPLIT)
        figure = tsne_figure(table, f"{title}: frozen embeddings (at most {TRIAL_TSNE_MAX_PER_SPLIT} per split)")
        written += save_figure(figure, directory, Path(TSNE_FIGURE_FILE).stem, formats=("png",))
    scores = label_fraction_rows(metrics, metric)
    if scores["fraction"].nunique() > 1:
        figure = label_fraction_figure(scores, f"test {metric}", f"{title}: test {metric} by label fraction")
        written += save_figure(figure, directory, Path(LABEL_FRACTION_FIGURE_FILE).stem, formats=("png",))
    return written


def label_fraction_rows(metrics: Mapping[str, float], metric: str) -> pd.DataFrame:
    """``label_fraction_figure``'s input from one trial's final metrics: per protocol, its test ``metric`` at every
    label fraction (pretrained, solid) and the same backbone untrained (dashed), one colour per protocol."""
    rows = []
    for name, value in metrics.items():
        parsed = parse_eval_metric_name(name)
        if parsed is None or parsed.split != "test" or parsed.metric != metric:
            continue
        untrained = parsed.prefix == RANDOM_INIT_PREFIX
        if parsed.prefix and not untrained:
            continue
        rows.append(
            {
                "series": f"{parsed.protocol} untrained" if untrained else parsed.protocol,
                "fraction": parsed.fraction,
                "value": float(value),
                "kind": "random_init" if untrained else "pretrained",
                "group": parsed.protocol,
            }
        )
    return pd.DataFrame(rows, columns=["series", "fraction", "value", "kind", "group"])
