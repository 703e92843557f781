"""Refusals of a search-space file: one line that names the file, the field and what was expected."""

from __future__ import annotations

import reprlib
from typing import Any

from pydantic import BaseModel, ValidationError

EXCERPT_CHARS = 80  # the most of a given value a message quotes
MESSAGE_CHARS = 2_000  # the most any message says


class SearchSpaceError(ValueError):
    """A search-space file that cannot run; the message is one line naming file, field and expectation."""


def explain(error: ValidationError, root: type[BaseModel]) -> str:
    """One line for the first problem: dotted location, then what was expected and what was found."""
    first = error.errors()[0]
    loc = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = f"unknown key; expected one of: {', '.join(_allowed_keys(root, first['loc'][:-1]))}"
    elif first["type"] == "missing":
        message = "required field is missing"
    elif "input" in first and first["type"] not in ("value_error", "assertion_error"):
        message = f"{message} (got {excerpt(first['input'])})"
    more = len(error.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{loc}: {message}{suffix}" if loc else f"{message}{suffix}"


_BRIEF = reprlib.Repr()  # Repr(**limits) needs Python 3.12
_BRIEF.maxlevel = 3
_BRIEF.maxtuple = _BRIEF.maxlist = _BRIEF.maxdict = _BRIEF.maxset = _BRIEF.maxfrozenset = _BRIEF.maxdeque = 4
_BRIEF.maxstring = _BRIEF.maxlong = _BRIEF.maxother = EXCERPT_CHARS


def excerpt(value: Any) -> str:
    """``repr(value)`` cut to ``EXCERPT_CHARS``, in time and memory bounded whatever the value's size (reprlib
    looks at a few items of each level only)."""
    text = _BRIEF.repr(value)
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 3] + "..."


def one_line(message: str) -> str:
    """A message as one line of at most ``MESSAGE_CHARS``: line breaks a value or a path brought in escaped,
    the rest of an overlong message (a value echoed whole by a check) left out."""
    message = message.replace("\r", "\\r").replace("\n", "\\n")
    if len(message) > MESSAGE_CHARS:
        message = f"{message[:MESSAGE_CHARS]}... ({len(message):,} characters in all)"
    return message


def _allowed_keys(root: type[BaseModel], loc: tuple) -> list[str]:
    model: Any = root
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
        if model is None:
            return []
    return list(model.model_fields)
