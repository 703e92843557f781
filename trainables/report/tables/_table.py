"""The table blocks and how their cells are made: ``Table`` (numbers, their text derived on output, best cells in
bold), ``TextTable`` (text as given), ``Cell`` (the mean, std and count of the runs a cell averages) and
``make_table`` / ``table_from_cells``, which every table module ends with.

A ``Table`` keeps the numbers (``frame``, for CSV and figures) apart from their text: scores with 3 decimals, gains
as signed percentage points with 1 decimal (``+4.2``), missing values as empty cells (never 0). Bold marks the best
value (as displayed) only where cells compete: a column given a direction, among the rows that compete in it. A table
gives no direction to what is a reference rather than a contender (the same backbone untrained, a supervised
baseline), to gains (a large gain over a weak baseline is no better result) or to values not comparable across rows
(training losses of differently shaped configurations). The same store gives byte-identical Markdown.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from trainables.report.document import ReportTable
from trainables.report.markdown import markdown_text

SCORE_DECIMALS = 3
GAIN_DECIMALS = 1


@dataclass
class Table(ReportTable):
    """A report table: numbers in ``frame`` (row labels in its index), their text derived on output.

    ``counts`` holds how many runs each cell averages and ``spread`` their std (cells over repeats);
    ``best`` marks the cells shown in bold; ``gain_columns`` are percentage points, not scores;
    ``sources`` names the runs behind each row (sweep, trial, run id), for the HTML page's links.
    """

    name: str
    caption: str
    frame: pd.DataFrame
    counts: pd.DataFrame
    spread: pd.DataFrame
    best: pd.DataFrame
    gain_columns: tuple[str, ...] = ()
    sources: pd.DataFrame | None = None

    def cell_text(self, row: int, column: str) -> str:
        mean = self.frame[column].iloc[row]
        if pd.isna(mean):
            return ""
        if column in self.gain_columns:
            # + 0.0 turns a rounded -0.0 into 0.0: "+0.0", never "-0.0".
            return f"{round(float(mean), GAIN_DECIMALS) + 0.0:+.{GAIN_DECIMALS}f}"
        text = f"{mean:.{SCORE_DECIMALS}f}"
        count = int(self.counts[column].iloc[row])
        if count > 1:
            text += f" ± {self.spread[column].iloc[row]:.{SCORE_DECIMALS}f} (n={count})"
        return text

    def display(self, mark, escape=lambda text: text) -> pd.DataFrame:
        """The table as text: index levels as leading columns, best cells wrapped by ``mark``."""
        labels = self.frame.index.to_frame(index=False).astype("object")
        labels = labels.map(lambda value: "" if missing(value) else escape(str(value)))
        labels.columns = [escape(str(name)) for name in labels.columns]
        values = {}
        for column in self.frame.columns:
            texts = [escape(self.cell_text(row, column)) for row in range(len(self.frame))]
            values[escape(str(column))] = [
                mark(text) if text and best else text for text, best in zip(texts, self.best[column])
            ]
        return pd.concat([labels, pd.DataFrame(values)], axis=1)

    def to_markdown(self, caption: bool = True) -> str:
        """A GitHub pipe table (caption above it), values right-aligned, best cells in ``**bold**``; the caption,
        labels and column names escaped (``markdown_text``: a sweep name or parameter value is text, never markup).

        Written here rather than with ``DataFrame.to_markdown``, which needs ``tabulate`` (not a dependency)."""
        table = self.display(mark=lambda text: f"**{text}**", escape=markdown_text)
        label_count = self.frame.index.nlevels
        rule = ["---" if i < label_count else "---:" for i in range(len(table.columns))]
        return pipe_table(self.caption if caption else None, table.columns, rule, table.itertuples(index=False))

    def to_html(self) -> str:
        """A plain ``<table>`` (the caption stays with the page), best cells in ``<strong>``."""
        table = self.display(mark=lambda text: f"<strong>{text}</strong>", escape=html.escape)
        return table.to_html(index=False, escape=False, border=0)

    def to_csv(self, path: str | Path) -> Path:
        """The numbers: means, and for columns with repeated cells their std and run count beside them."""
        out = self.frame.copy()
        for column in self.frame.columns:
            if (self.counts[column] > 1).any():
                out[f"{column} std"] = self.spread[column]
                out[f"{column} n"] = self.counts[column]
        path = Path(path)
        out.to_csv(path)
        return path


@dataclass
class TextTable(ReportTable):
    """A table of text (the sweeps covered, a night's regression): rendered like a ``Table``, never marked best,
    not among the report's results (``Report.tables``)."""

    name: str
    caption: str
    frame: pd.DataFrame
    results = False

    def to_markdown(self, caption: bool = True) -> str:
        return pipe_table(
            self.caption if caption else None,
            [markdown_text(column) for column in self.frame.columns],
            ["---" for _ in self.frame.columns],
            ([markdown_text(value) for value in row] for row in self.frame.itertuples(index=False)),
        )

    def to_html(self) -> str:
        return self.frame.to_html(index=False, border=0)

    def to_csv(self, path: Path) -> Path:
        self.frame.to_csv(path, index=False)
        return path


def text_table(frame: pd.DataFrame, name: str, caption: str) -> TextTable:
    """A table of text (already formatted) for a report section: Markdown, HTML and CSV like a ``Table``."""
    return TextTable(name, caption, frame)


def pipe_table(caption: str | None, header: Sequence[str], rule: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown pipe table of cells already escaped, ``caption`` (escaped here) above it where given."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    text = "\n".join(lines)
    return f"{markdown_text(caption)}\n\n{text}\n" if caption is not None else f"{text}\n"


def missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def parameter_values(values: pd.Series) -> pd.Series:
    """Searched values as MLflow stores them (strings), as numbers where all are, so 256 sorts before 1024."""
    numbers = pd.to_numeric(values, errors="coerce")
    return numbers if numbers.notna().sum() == values.notna().sum() else values.astype("object")


def parameter_label(value) -> str:
    """A searched value as a row or column label: 1024, 0.001, 0.004425 (4 significant digits), conv1d."""
    if missing(value):
        return "(unset)"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.4g}"
    return str(value)


def percent(fraction: float) -> str:
    """A label fraction as a column or row label: 0.1 -> '10 %'."""
    return f"{fraction * 100:g} %"


# ------------------------------------------------------------------------------------------------ cells


@dataclass(frozen=True)
class Cell:
    """What one cell summarises: the mean, std and number of the runs' values."""

    mean: float
    std: float
    n: int


EMPTY = Cell(math.nan, math.nan, 0)


def summary(runs: pd.DataFrame, column: str) -> Cell:
    """The cell of ``runs``' values in ``column`` (numbers only); ``EMPTY`` where none has one."""
    if column not in runs:
        return EMPTY
    values = pd.to_numeric(runs[column], errors="coerce").dropna()
    return Cell(values.mean(), values.std(ddof=1), len(values)) if len(values) else EMPTY


def points(a: Cell, b: Cell) -> Cell:
    """a - b in percentage points (scores are fractions in [0, 1])."""
    if not (a.n and b.n):
        return EMPTY
    return Cell(100 * (a.mean - b.mean), math.nan, 1)


def make_table(
    name: str,
    caption: str,
    frame: pd.DataFrame,
    counts: pd.DataFrame,
    spread: pd.DataFrame,
    directions: dict[str, str],
    gain_columns=(),
    within: str | None = None,
    sources: pd.DataFrame | None = None,
    competing: Sequence[bool] | None = None,
) -> Table:
    """A Table with columns no run measured dropped, the best cells marked in each column ``directions`` names
    (within each group of index level ``within`` if given; among the rows ``competing`` marks, default all) and
    the caption told whether cells average repeats."""
    measured = [column for column in frame.columns if frame[column].notna().any()]
    frame, counts, spread = frame[measured], counts[measured], spread[measured]
    directions = {column: mode for column, mode in directions.items() if column in measured}
    best = _best_cells(frame, directions, gain_columns, within, competing)
    repeats_note = (
        " Cells over repeated configurations: mean ± std over training seeds (n runs)."
        if (counts > 1).any().any()
        else " One run per cell."
    )
    return Table(
        name,
        caption + repeats_note,
        frame,
        counts,
        spread,
        best,
        tuple(column for column in gain_columns if column in measured),
        sources,
    )


def table_from_cells(
    name: str,
    caption: str,
    index_names: list[str],
    rows: list[tuple[tuple, dict[str, Cell]]],
    columns: list[str],
    directions: dict[str, str],
    gain_columns=(),
    within: str | None = None,
    sources: pd.DataFrame | None = None,
    competing: Sequence[bool] | None = None,
) -> Table:
    """``make_table`` from rows of (index key, {column: Cell}); a column a row lacks is empty there."""
    index = pd.MultiIndex.from_tuples([key for key, _ in rows], names=index_names)

    def part(attribute: str) -> pd.DataFrame:
        return pd.DataFrame(
            [[getattr(cells.get(column, EMPTY), attribute) for column in columns] for _, cells in rows],
            index=index,
            columns=columns,
            dtype=float,
        )

    return make_table(
        name,
        caption,
        part("mean"),
        part("n").fillna(0).astype(int),
        part("std"),
        directions,
        gain_columns,
        within,
        sources,
        competing,
    )


def _best_cells(
    frame: pd.DataFrame,
    directions: dict[str, str],
    gain_columns=(),
    within: str | None = None,
    competing: Sequence[bool] | None = None,
) -> pd.DataFrame:
    """Per column of ``directions``, the competing cells whose displayed value is the best (all of them on a
    displayed tie)."""
    best = pd.DataFrame(False, index=frame.index, columns=frame.columns)
    rows = pd.Series(True if competing is None else list(competing), index=frame.index, dtype=bool)
    for column, mode in directions.items():
        shown = frame[column].round(GAIN_DECIMALS if column in gain_columns else SCORE_DECIMALS).where(rows)
        target = (
            shown.groupby(level=within, sort=False).transform(mode)
            if within
            else pd.Series(shown.agg(mode), index=shown.index)
        )
        best[column] = shown.eq(target) & rows
    return best
