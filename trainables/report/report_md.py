"""``report.md``: a report (``document.Report``) as Markdown, every title, caption, text block and note escaped
(``markdown.markdown_text``) as the tables escape their cells; figures linked to their PNG (and SVG) files."""

from __future__ import annotations

from trainables.report.document import FIGURES_FOLDER, Report, ReportFigure
from trainables.report.markdown import markdown_text


def render_markdown(report: Report) -> str:
    """The text of ``report.md`` for a report whose figure files are written (their names link them)."""
    lines = [f"# {markdown_text(report.title)}", ""]
    for section in report.sections:
        lines += [f"## {markdown_text(section.title)}", ""]
        for block in section.blocks:
            if isinstance(block, ReportFigure):
                lines += [
                    f"![{markdown_text(block.name)}]({FIGURES_FOLDER}/{block.png.name})",
                    "",
                    f"*{markdown_text(block.caption)}* ([SVG]({FIGURES_FOLDER}/{block.svg.name}))",
                    "",
                ]
            elif isinstance(block, str):
                lines += [markdown_text(block), ""]
            else:
                lines += [block.to_markdown(), ""]
    if report.notes:
        lines += ["## Notes", "", *[f"- {markdown_text(note)}" for note in report.notes], ""]
    return "\n".join(lines)
