"""Plain text made safe to put into Markdown: ``markdown_text``, the one escape for every Markdown sslsweep writes.

Sweep names, methods, backbones, parameter values, trial ids, class labels and descriptions come from sweep files
and MLflow runs, i.e. from whoever can write to the tracking store. They reach Markdown in ``report.md``,
``tables/*.md`` (and the tables ``tune.py`` prints), the report run's ``mlflow.note.content`` and the Model
Registry's descriptions, which MLflow's UI renders as Markdown. There a value such as
``<img src=x onerror=alert(1)>``, ``[link](javascript:alert(1))`` or a ``|`` inside a table cell would be
markup, not text. ``markdown_text`` turns such a value into Markdown that renders as the value itself:

- ``&``, ``<``, ``>`` become the HTML entities ``&amp;``, ``&lt;``, ``&gt;`` (no raw HTML, no autolink);
- ``\\``, `````, ``*``, ``[``, ``]`` and ``|`` get a backslash (no code span, emphasis, link, image or extra table
  cell); ``_`` gets one too, except between two letters or digits, where CommonMark never reads it as emphasis
  (``barlow_twins``, ``frac_0.1`` stay as they are);
- every line break becomes a space (no new block, no broken table row).

The HTML page (``index.html``) never goes through it: it escapes with ``html.escape`` on its own path.
"""

from __future__ import annotations

import re

_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_BACKSLASHED = frozenset("\\`*[]|")
_LINE_BREAKS = re.compile(r"\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


def markdown_text(value) -> str:
    """``value`` as text (``str(value)``) that renders as itself in Markdown, inside a table cell too."""
    text = _LINE_BREAKS.sub(" ", str(value))
    out = []
    for position, char in enumerate(text):
        if char in _ENTITIES:
            out.append(_ENTITIES[char])
        elif char in _BACKSLASHED:
            out.append("\\" + char)
        elif char == "_" and not _intraword(text, position):
            out.append(r"\_")
        else:
            out.append(char)
    return "".join(out)


def _intraword(text: str, position: int) -> bool:
    return 0 < position < len(text) - 1 and text[position - 1].isalnum() and text[position + 1].isalnum()
