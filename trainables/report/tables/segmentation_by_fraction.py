"""The seismic reports' label-fraction study: test mIoU by label fraction, pretrained and randomly initialised."""

from __future__ import annotations

from selfsup.evaluation.metric_names import RANDOM_INIT_PREFIX
from trainables.report.tables._selection import row_sources, select, selection_note, units_note
from trainables.report.tables._table import Table, percent, table_from_cells
from trainables.tracking.runs import ReportError, SweepRuns


def segmentation_by_fraction(sweeps: list[SweepRuns]) -> Table:
    """Test mIoU by label fraction of each segmentation technique x backbone's selected trial, pretrained and the
    same backbone randomly initialised (the seismic reports' label-fraction study). Bold: the best pretrained
    score per fraction; the randomly initialised rows are references, not contenders."""
    selections = [s for s in select(sweeps) if s.task == "segmentation"]
    if not selections:
        raise ReportError(f"no segmentation sweep among {', '.join(sorted(s.name for s in sweeps))}")
    fractions = sorted({f for s in selections for f in s.test_fractions() + s.test_fractions(RANDOM_INIT_PREFIX)})
    columns = [percent(f) for f in fractions]
    rows, keys, row_selections, competing = [], [], [], []
    for selection in selections:
        for encoder, prefix in (("pretrained", ""), ("random init", RANDOM_INIT_PREFIX)):
            keys.append((selection.method, selection.backbone, encoder))
            rows.append((keys[-1], {percent(f): selection.test("miou", f, prefix) for f in fractions}))
            row_selections.append(selection)
            competing.append(not prefix)
    caption = (
        f"Test mIoU ({', '.join(sorted({s.protocol for s in selections}))}) by label fraction of the best "
        f"finished trial per technique and backbone, pretrained and randomly initialised. "
        f"{selection_note(sweeps)} Best pretrained score per label fraction in bold; empty: not evaluated."
        f"{units_note(selections)}"
    )
    names = ["method", "backbone", "encoder"]
    return table_from_cells(
        "segmentation_by_fraction",
        caption,
        names,
        rows,
        columns,
        {c: "max" for c in columns},
        sources=row_sources(names, keys, row_selections),
        competing=competing,
    )
