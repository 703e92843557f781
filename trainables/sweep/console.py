"""What a sweep prints while it runs (``TrialLines``): one line per trial event, where Tune's own output (a
configuration table and a result table per trial, hundreds of lines for a small sweep) is for ``--verbose``::

    trial started   conv1d bs32 lr8.2e-4 #2
    trial at rung   conv1d bs32 lr8.2e-4 #2  epoch 2: train/loss 0.9130
    trial pruned    gru bs64 lr1.1e-3 #3  at epoch 2: train/loss 1.5300  (1/8 ended)
    trial finished  conv1d bs32 lr8.2e-4 #2  train/loss 0.8824  (2/8 ended)
    trial failed    gru bs32 lr3.3e-2 #4  NonFiniteLossError: loss became nan at epoch 1, step 3  (3/8 ended)

A rung is an epoch at which ASHA compares trials (``asha_rungs``). On a terminal, a status line below them says
what runs and the best finished trial so far, rewritten in place (never in a log or a pipe).
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, TextIO

from ray.tune import Callback
from ray.tune.experiment import Trial

from trainables.records.names import run_label
from trainables.records.results import EPOCH, FAILURE_REASON, Outcome, failure_reason, is_finite_number, outcome
from trainables.tracking.mlflow_callback import trial_error_text

STATUS_EVERY_S = 1.0  # how often the status line is rewritten, at most


def asha_rungs(grace_period: int, reduction_factor: float, epochs: int) -> tuple[int, ...]:
    """The epochs before the last at which ASHA compares a trial with the others (Ray's ``_Bracket``: the grace
    period times powers of the reduction factor, as many as fit in the epochs)."""
    count = int(math.log(epochs / grace_period) / math.log(reduction_factor) + 1)
    return tuple(r for r in sorted(int(grace_period * reduction_factor**k) for k in range(count)) if r < epochs)


class TrialLines(Callback):
    """Prints ``trial <event> <name> <detail>`` for each trial that starts, reaches a rung (``rungs``: epochs) or
    ends, and on a terminal a live status line; ``searched``: the searched hyperparameters (the names,
    ``records.names``), ``trials``: how many the sweep runs."""

    def __init__(
        self,
        objective: str,
        mode: str,
        searched: list[str],
        trials: int,
        rungs: tuple[int, ...] = (),
        stream: TextIO | None = None,
    ) -> None:
        self.objective, self.mode, self.searched, self.trials, self.rungs = objective, mode, searched, trials, rungs
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty()
        self.ended: dict[Outcome, int] = {}
        self.best: tuple[float, str] | None = None
        self.names: dict[str, str] = {}
        self.status_shown_at, self.status_visible = 0.0, False

    # ---------------------------------------------------------------------------------------- Tune's events
    def on_trial_start(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self._print("started", trial, "")

    def on_trial_result(self, iteration: int, trials: list[Trial], trial: Trial, result: dict, **info: Any) -> None:
        epoch = result.get(EPOCH)
        if epoch in self.rungs and not result.get(FAILURE_REASON):
            self._print("at rung", trial, f"epoch {epoch}: {self._score(result)}".rstrip(": "))

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self._ended(trial, errored=False)

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self._ended(trial, errored=True)

    def on_step_end(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        if self.live and time.monotonic() - self.status_shown_at >= STATUS_EVERY_S:
            running = sum(t.status == Trial.RUNNING for t in trials)
            self._status(f"{running} running · {self._counts()}")

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        self._status("")

    # ---------------------------------------------------------------------------------------------- lines
    def _ended(self, trial: Trial, errored: bool) -> None:
        result = trial.last_result or {}
        ended = outcome(result, errored)
        self.ended[ended] = self.ended.get(ended, 0) + 1
        count = f"({sum(self.ended.values())}/{self.trials} ended)"
        if ended == Outcome.FAILED:
            reason = failure_reason(trial_error_text(trial) if errored else None, result)
            self._print("failed", trial, f"{reason}  {count}")
        elif ended == Outcome.PRUNED:
            at = f"at epoch {result[EPOCH]}" if EPOCH in result else ""
            self._print("pruned", trial, f"{': '.join(filter(None, (at, self._score(result))))}  {count}")
        else:
            self._print("finished", trial, f"{self._score(result)}  {count}".strip())
            value = result.get(self.objective)
            if is_finite_number(value) and (self.best is None or _better(value, self.best[0], self.mode)):
                self.best = (float(value), self._name(trial))

    def _print(self, event: str, trial: Trial, detail: str) -> None:
        self._status("")
        line = f"trial {event:<9} {self._name(trial)}"
        print(f"{line}  {detail}" if detail else line, file=self.stream, flush=True)

    def _status(self, text: str) -> None:
        """Rewrite the status line in place (a terminal only); empty text clears it."""
        if not self.live or not (text or self.status_visible):
            return
        self.stream.write("\r\033[K" + text)
        self.stream.flush()
        self.status_visible = bool(text)
        if text:
            self.status_shown_at = time.monotonic()

    def _counts(self) -> str:
        counts = ", ".join(
            f"{self.ended.get(kind, 0)} {kind}" for kind in (Outcome.FINISHED, Outcome.PRUNED, Outcome.FAILED)
        )
        best = f" · best {self.objective} {self.best[0]:.4f} ({self.best[1]})" if self.best else ""
        return f"{counts} of {self.trials}{best}"

    def _name(self, trial: Trial) -> str:
        if trial.trial_id not in self.names:
            self.names[trial.trial_id] = run_label(trial.config, self.searched)
        return self.names[trial.trial_id]

    def _score(self, result: dict) -> str:
        value = result.get(self.objective)
        return f"{self.objective} {value:.4f}" if is_finite_number(value) else ""


def _better(value: float, than: float, mode: str) -> bool:
    return value > than if mode == "max" else value < than
