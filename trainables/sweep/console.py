"""What a sweep prints while it runs, one line per trial that ends (``TrialLines``), where Tune's own output (a
configuration table and a result table per trial, hundreds of lines for a small sweep) is for ``--verbose``."""

from __future__ import annotations

import math
from typing import Any

from ray.tune import Callback
from ray.tune.experiment import Trial

from trainables.records.names import run_label
from trainables.records.results import EPOCH, Outcome, outcome


class TrialLines(Callback):
    """``trial 3/8 finished conv1d bs32 lr8.2e-4 #2  val/linear/acc/frac_1.0 0.9600 (epoch 12)``."""

    def __init__(self, objective: str, searched: list[str], trials: int) -> None:
        self.objective, self.searched, self.trials = objective, searched, trials
        self.ended = 0

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self._line(trial, errored=False)

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self._line(trial, errored=True)

    def _line(self, trial: Trial, errored: bool) -> None:
        self.ended += 1
        result = trial.last_result or {}
        name = run_label(trial.config, self.searched)
        value = result.get(self.objective)
        score = f"{self.objective} {value:.4f}" if isinstance(value, (int, float)) and math.isfinite(value) else ""
        ended = outcome(result, errored)
        at = f"(epoch {result[EPOCH]})" if EPOCH in result and ended != Outcome.FINISHED else ""
        print(
            " ".join(part for part in (f"trial {self.ended}/{self.trials} {str(ended):<8}", name, score, at) if part),
            flush=True,
        )
