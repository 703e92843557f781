"""One line from a validation error: what every refusal of the library and the sweep side quotes."""

from __future__ import annotations

from pydantic import ValidationError


def first_message(error: Exception) -> str:
    """The first problem of ``error`` as "location: message" (a ``ValidationError``), else its text."""
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        loc = ".".join(str(part) for part in first["loc"])
        return f"{loc}: {first['msg']}" if loc else first["msg"]
    return str(error)
