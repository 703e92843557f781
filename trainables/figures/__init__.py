"""Every figure, one module per figure, in the reference reports' shape, drawn from plain pandas DataFrames (no
MLflow, no Ray, nothing else of trainables): the report's, and the ones a finished trial draws for its own run
(``trainables.trial.trial_figures``).

The reading of MLflow runs into these frames lives elsewhere (``trainables.report.figure_data``); every function
here takes a small long-format frame and returns a ``matplotlib.figure.Figure``, and ``save_figure`` writes it as
PNG (150 dpi) and SVG, byte-identical on every save (no creation date, fixed SVG id salt) so regenerated reports
diff cleanly.

- ``label_fraction``: ``label_fraction_figure``, a metric against the fraction of labelled training data.
- ``grid_heatmap``: ``grid_heatmap``, a searched grid with every cell annotated and the best outlined.
- ``training_curves``: ``training_curves``, pretext loss and collapse monitors against epoch.
- ``tsne``: ``tsne_figure`` and ``tsne_coordinates``, embeddings of all splits on one map (``subsample_splits``
  bounds its cost).
- ``optuna_study``: ``optuna_figures``, Optuna's own plots of a study (importances from few trials flagged as a
  hint, ``importance_caveat``).
- ``segmentation_panel``: ``segmentation_panel``, a section, its ground truth and the prediction.
- ``_common``: what they share (a figure without pyplot, colours, ``save_figure``).

Figures are built on ``matplotlib.figure.Figure`` with an Agg canvas attached, never through pyplot's
global figure manager, so nothing needs a display, calls never share state and nothing accumulates.
"""

from trainables.figures._common import PNG_DPI, SVG_HASH_SALT, save_figure
from trainables.figures.grid_heatmap import BEST_CELL_GID, grid_heatmap
from trainables.figures.label_fraction import KIND_STYLES, label_fraction_figure
from trainables.figures.optuna_study import RELIABLE_IMPORTANCE_TRIALS, importance_caveat, optuna_figures
from trainables.figures.segmentation_panel import segmentation_panel
from trainables.figures.training_curves import (
    CURVE_YLABELS,
    FINISHED_ALPHA,
    FINISHED_LINEWIDTH,
    PRUNED_ALPHA,
    PRUNED_LINEWIDTH,
    training_curves,
)
from trainables.figures.tsne import SPLIT_MARKERS, TEST_EDGE_WIDTH, subsample_splits, tsne_coordinates, tsne_figure

__all__ = [
    "BEST_CELL_GID",
    "CURVE_YLABELS",
    "FINISHED_ALPHA",
    "FINISHED_LINEWIDTH",
    "KIND_STYLES",
    "PNG_DPI",
    "PRUNED_ALPHA",
    "PRUNED_LINEWIDTH",
    "RELIABLE_IMPORTANCE_TRIALS",
    "SPLIT_MARKERS",
    "SVG_HASH_SALT",
    "TEST_EDGE_WIDTH",
    "grid_heatmap",
    "importance_caveat",
    "label_fraction_figure",
    "optuna_figures",
    "save_figure",
    "segmentation_panel",
    "subsample_splits",
    "training_curves",
    "tsne_coordinates",
    "tsne_figure",
]
