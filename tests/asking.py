"""Asking sslsweep's Optuna searcher for points as Tune does, for the tests of the searcher and of the sweeps
across methods."""

from __future__ import annotations

import time


def suggested(searcher, trial_id: str) -> dict:
    """``searcher.suggest(trial_id)`` called as Tune calls it, once a step, until the point is drawn (sslsweep's
    searcher draws on a thread of its own and answers None meanwhile)."""
    deadline = time.monotonic() + 60
    while (config := searcher.suggest(trial_id)) is None:
        assert time.monotonic() < deadline, "no point drawn within 60 s"
        time.sleep(0.01)
    return config
