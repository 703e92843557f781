"""What a report is made of: the document the builder fills and every output reads.

A ``Report`` is a title and ``Section``s, each a title and blocks: a table (``ReportTable``: the numbers and
their text, written as ``tables/<file_name>.md`` and ``.csv``), a figure (``ReportFigure``: a matplotlib figure
and its caption, written as ``figures/<name>.png`` and ``.svg``) or a paragraph of text; and the notes on what
could not be drawn. The builder (``builder``) decides what goes in; ``report_md`` (``report.md``), ``index_html``
(``index.html``), ``files`` (the report's directory) and ``mlflow_run`` (its MLflow run) read it, so a block's
caption and file name are set in one place and shown the same in every output.
"""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Iterator

from trainables.tracking.runs import ReportError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from trainables.tracking.runs import SweepRuns

TABLES_FOLDER = "tables"
FIGURES_FOLDER = "figures"
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def safe_name(name: str) -> str:
    """``name`` as a file name and HTML id: every run of other characters than letters, digits and ``._+-`` becomes
    ``_`` (a sweep name is whatever its file says)."""
    cleaned = _UNSAFE.sub("_", name).strip("._")
    if not cleaned:
        raise ReportError(f"report name {name!r} has no usable characters")
    return cleaned


class ReportTable(abc.ABC):
    """A table block: ``name`` (its file name, ``file_name``, once made safe) and ``caption``, and its text in each
    output. ``tables.Table`` (numbers, best cells in bold) and ``tables.TextTable`` (text as given) are the two.
    ``results`` says whether the table lists among the report's results (``Report.tables``)."""

    name: str
    caption: str
    results: ClassVar[bool] = True

    @property
    def file_name(self) -> str:
        return safe_name(self.name)

    @abc.abstractmethod
    def to_markdown(self, caption: bool = True) -> str:
        """A pipe table, its caption above it unless ``caption`` is false; every text escaped."""

    @abc.abstractmethod
    def to_html(self) -> str:
        """A plain ``<table>``; the caption stays with the page."""

    @abc.abstractmethod
    def to_csv(self, path: Path) -> Path:
        """The table's values written to ``path``."""


@dataclass(frozen=True)
class ReportFigure:
    """A figure block: ``name`` is its file name (``figures/<name>.png`` and ``.svg``) and its HTML id. The builder
    gives the ``drawing``; writing the report's files (``files.write_report``) replaces it by the paths it wrote."""

    name: str
    caption: str
    drawing: Figure | None = None
    png: Path | None = None
    svg: Path | None = None

    @classmethod
    def drawn(cls, drawing: Figure, name: str, caption: str) -> ReportFigure:
        """A figure to write, its ``name`` made a safe file name."""
        return cls(safe_name(name), caption, drawing)

    def moved(self, source: Path, target: Path) -> ReportFigure:
        """The same figure with its files under ``target`` instead of ``source``."""
        return replace(self, png=target / self.png.relative_to(source), svg=target / self.svg.relative_to(source))


Block = ReportTable | ReportFigure | str


@dataclass
class Section:
    """A titled part of a report: its tables, figures and paragraphs in order."""

    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Report:
    """A whole report: ``name`` (its directory's name), ``title``, the sweeps it covers, its sections and the notes
    on what it could not draw. ``directory`` is where its files are (or go, before they are written)."""

    name: str
    title: str
    directory: Path
    sweeps: list[SweepRuns]
    sections: list[Section]
    notes: list[str]

    def blocks(self) -> Iterator[Block]:
        """Every block of every section, in order."""
        return (block for section in self.sections for block in section.blocks)

    @property
    def tables(self) -> dict[str, ReportTable]:
        """The tables of results by name: every table but the text ones (the sweeps covered, a night's regression)."""
        return {block.name: block for block in self.blocks() if isinstance(block, ReportTable) and block.results}

    @property
    def figures(self) -> dict[str, ReportFigure]:
        return {block.name: block for block in self.blocks() if isinstance(block, ReportFigure)}
