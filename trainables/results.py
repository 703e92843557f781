"""Keys every trial result may carry beyond the metric scheme, and how a finished trial is classified.

A trial is
- finished: its last result carries ``evaluation_done`` (it ran every epoch and the downstream evaluation);
- pruned: it ended without error but without that flag (ASHA stopped it early);
- failed: it raised (NaN loss, collapse, a crash), with the reason in ``failure_reason`` when we know it.
"""
from __future__ import annotations

import re
from typing import Any

EPOCH = "epoch"
EVALUATION_DONE = "evaluation_done"
FAILURE_REASON = "failure_reason"

FINISHED, PRUNED, FAILED = "finished", "pruned", "failed"


def outcome(last_result: dict[str, Any] | None, errored: bool) -> str:
    if errored:
        return FAILED
    if last_result and last_result.get(EVALUATION_DONE):
        return FINISHED
    return PRUNED


_REASON = re.compile(r"sslsweep trial stopped: (.+)|((?:NonFiniteLossError|CollapseError|DataError): .+)")


def failure_reason(error_text: str | None, last_result: dict[str, Any] | None = None) -> str:
    """The one line that says why a trial failed, from its last result or its error traceback."""
    if last_result and last_result.get(FAILURE_REASON):
        return str(last_result[FAILURE_REASON])
    if not error_text:
        return "unknown error (no traceback recorded)"
    for line in reversed(error_text.strip().splitlines()):
        match = _REASON.search(line)
        if match:
            return (match.group(1) or match.group(2)).strip()
    lines = [line.strip() for line in error_text.strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else "unknown error"
