"""``index.html``: a report (``document.Report``) as one self-contained page: tables inline, figures as PNG data
URIs (the page works when downloaded alone from MLflow), no scripts, nothing from the network. Text is escaped with
``html.escape`` here, never with the Markdown escape."""

from __future__ import annotations

import base64
import html

from trainables.report.document import Report, ReportFigure, safe_name

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 75em; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #ddd; text-align: right; }
th { background: #f4f4f4; }
td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0 2em; }
figcaption { font-size: 0.9em; color: #444; max-width: 60em; margin-bottom: 0.4em; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
.scroll { overflow-x: auto; }
nav li { display: inline; margin-right: 1em; }
"""


def render_html(report: Report) -> str:
    """The text of ``index.html`` for a report whose figure files are written (their PNG bytes are inlined)."""

    def anchor(title: str) -> str:
        return safe_name(title.lower())

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{html.escape(report.title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{html.escape(report.title)}</h1>",
        "<nav><ul>"
        + "".join(f'<li><a href="#{anchor(s.title)}">{html.escape(s.title)}</a></li>' for s in report.sections)
        + "</ul></nav>",
    ]
    for section in report.sections:
        parts.append(f'<section id="{anchor(section.title)}"><h2>{html.escape(section.title)}</h2>')
        for block in section.blocks:
            if isinstance(block, ReportFigure):
                data = base64.b64encode(block.png.read_bytes()).decode("ascii")
                parts.append(
                    f'<figure id="{block.name}"><figcaption>{html.escape(block.caption)}</figcaption>'
                    f'<img src="data:image/png;base64,{data}" alt="{html.escape(block.caption)}">'
                    f"</figure>"
                )
            elif isinstance(block, str):
                parts.append(f"<p>{html.escape(block)}</p>")
            else:
                parts.append(
                    f'<figure id="{block.file_name}" class="table"><figcaption>'
                    f"{html.escape(block.caption)}"
                    f'</figcaption><div class="scroll">{block.to_html()}</div></figure>'
                )
        parts.append("</section>")
    if report.notes:
        parts.append(
            '<section id="notes"><h2>Notes</h2><ul>'
            + "".join(f"<li>{html.escape(note)}</li>" for note in report.notes)
            + "</ul></section>"
        )
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)
