"""A report's directory, written from its document (``document.Report``) as a whole:

    index.html                   one self-contained page (``index_html``)
    report.md                    the same in Markdown, figures linked (``report_md``)
    tables/<table>.md, .csv      each table (best values in bold; CSV holds the numbers)
    figures/<figure>.png, .svg   each figure (PNG for the page and MLflow, SVG for papers)

Everything is written into a staging directory beside it that then replaces the directory, so no file of an earlier
build survives and a build that fails leaves the old report as it was.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from trainables.figures import save_figure
from trainables.report.document import FIGURES_FOLDER, TABLES_FOLDER, Report, ReportFigure, ReportTable, Section
from trainables.report.index_html import render_html
from trainables.report.report_md import render_markdown
from trainables.tracking.runs import ReportError


def check_replaceable(directory: Path) -> None:
    """Refuse a directory that holds something other than a report: rebuilding replaces it as a whole."""
    if directory.exists() and any(directory.iterdir()) and not (directory / "index.html").exists():
        raise ReportError(f"{directory} exists and holds no report (no index.html): choose another name or remove it")


def write_report(report: Report) -> Report:
    """Write ``report`` into ``report.directory`` (its parent created where missing, the directory replaced); the
    report with its figures' drawings replaced by the paths of their files there."""
    directory = report.directory
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        staged = _with_blocks(report, staging, lambda block: _saved(block, staging / FIGURES_FOLDER))
        _write_tables(staged, staging / TABLES_FOLDER)
        (staging / "report.md").write_text(render_markdown(staged))
        (staging / "index.html").write_text(render_html(staged))
        if directory.exists():
            shutil.rmtree(directory)
        staging.rename(directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return _with_blocks(staged, directory, lambda block: block.moved(staging, directory))


def _with_blocks(report: Report, directory: Path, figure) -> Report:
    """``report`` in ``directory``, each figure block replaced by ``figure(block)``."""
    sections = [
        Section(
            section.title,
            [figure(block) if isinstance(block, ReportFigure) else block for block in section.blocks],
        )
        for section in report.sections
    ]
    return replace(report, directory=directory, sections=sections)


def _saved(figure: ReportFigure, directory: Path) -> ReportFigure:
    png, svg = save_figure(figure.drawing, directory, figure.name)
    return replace(figure, drawing=None, png=png, svg=svg)


def _write_tables(report: Report, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for table in report.blocks():
        if isinstance(table, ReportTable):
            table.to_csv(directory / f"{table.file_name}.csv")
            (directory / f"{table.file_name}.md").write_text(table.to_markdown())
