"""The report's tables, one module per table, from sweeps read back from MLflow, in the shape of the reference
reports:

- ``technique_by_backbone``: the headline table: per technique (method) and backbone, the finished trial selected
  on validation, with its test headline score at the fewest labels it was tested with (and 100 %), the report's
  protocol and kNN where recorded, the same backbone untrained and supervised (reference Table 3).
- ``ssl_vs_supervised``: the same selection at every label fraction: supervised (where a baseline ran),
  untrained, SSL, gains (reference Table 4).
- ``search_grid``: one sweep's validation objective pivoted over chosen searched dimensions, the best cell
  marked (reference Table 5, the Barlow Twins grid).
- ``pretext_configurations``: one sweep's pretext configurations tried, with final loss and validation score.
- ``segmentation_by_fraction``, ``per_class_iou``: the seismic reports' mIoU by label fraction and per-class IoU
  of the best trial.
- ``sweeps_covered``: the sweeps a report covers (a ``TextTable``).

Selection is always on validation (``_selection``: each sweep's own objective in its own mode, finished search
trials only, ties by creation); test scores only report. Every caption names the metric that chose. A cell whose
configuration was re-run with other training seeds (``final.repeats``: role ``repeat``, ``sslsweep.repeat_of``)
shows ``mean ± std (n=k)`` over the trial and its finished repeats; otherwise the caption says there is one run per
cell. Bold marks the best only among cells that compete (pretrained scores, validation objectives): never an
untrained or supervised reference, a gain or a training loss. A caption names supervised baselines only where one
finished, and says what one test unit is worth where the trials recorded how many there were. ``_table`` holds the
table blocks (``Table``: numbers, text derived on output, best in bold; ``TextTable``).
"""

from trainables.report.tables._selection import (
    HEADLINE_METRICS,
    METRIC_LABELS,
    Selected,
    report_protocol,
    report_task,
    select,
    test_scores,
)
from trainables.report.tables._table import Cell, Table, TextTable, parameter_label, parameter_values, text_table
from trainables.report.tables.per_class_iou import per_class_iou
from trainables.report.tables.pretext_configurations import pretext_configurations
from trainables.report.tables.search_grid import search_grid
from trainables.report.tables.segmentation_by_fraction import segmentation_by_fraction
from trainables.report.tables.ssl_vs_supervised import ssl_vs_supervised
from trainables.report.tables.sweeps_covered import sweeps_covered
from trainables.report.tables.technique_by_backbone import technique_by_backbone

__all__ = [
    "HEADLINE_METRICS",
    "METRIC_LABELS",
    "Cell",
    "Selected",
    "Table",
    "TextTable",
    "parameter_label",
    "parameter_values",
    "per_class_iou",
    "pretext_configurations",
    "report_protocol",
    "report_task",
    "search_grid",
    "segmentation_by_fraction",
    "select",
    "ssl_vs_supervised",
    "sweeps_covered",
    "technique_by_backbone",
    "test_scores",
    "text_table",
]
