"""What a sweep prints while it runs (trainables/sweep/console.py): a line per trial event, ASHA's rungs as Ray
places them, and a status line rewritten in place on a terminal only."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from ray.tune.experiment import Trial
from ray.tune.schedulers.async_hyperband import _Bracket

from trainables.records.results import EPOCH, EVALUATION_DONE, FAILURE_REASON, TRIAL_NUMBER_KEY
from trainables.sweep.console import TrialLines, asha_rungs

OBJECTIVE = "val/knn/acc/frac_1.0"


@dataclass
class _Trial:
    """What TrialLines reads of a Tune trial."""

    trial_id: str
    config: dict
    last_result: dict = field(default_factory=dict)
    status: str = Trial.RUNNING
    error_file: str | None = None  # no staging copy: read through get_error

    def get_error(self) -> str:
        return "Traceback ...\nRuntimeError: CUDA error: out of memory"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _trial(number: int, backbone: str = "gru") -> _Trial:
    return _Trial(f"t{number}", {"backbone": backbone, "lr": 0.00082, TRIAL_NUMBER_KEY: number})


def test_asha_rungs_are_the_epochs_rays_bracket_compares_at():
    for grace, factor, epochs in ((1, 3, 4), (2, 2, 12), (2, 2, 8), (4, 2, 4), (1, 2, 20), (3, 3.0, 30)):
        milestones = sorted(milestone for milestone, _ in _Bracket(grace, epochs, factor, 0)._rungs)
        assert asha_rungs(grace, factor, epochs) == tuple(m for m in milestones if m < epochs)


def test_a_line_per_trial_event_in_a_log():
    log = io.StringIO()
    lines = TrialLines(OBJECTIVE, "max", ["backbone", "lr"], trials=3, rungs=(1, 3), stream=log)
    finished, pruned, failed = _trial(0), _trial(1, "conv1d"), _trial(2)
    for trial in (finished, pruned, failed):
        lines.on_trial_start(0, [], trial)
    lines.on_trial_result(0, [], pruned, {EPOCH: 1, OBJECTIVE: 0.5})
    lines.on_trial_result(0, [], pruned, {EPOCH: 2, OBJECTIVE: 0.6})  # not a rung: no line
    pruned.last_result = {EPOCH: 1, OBJECTIVE: 0.5}
    lines.on_trial_complete(0, [], pruned)
    finished.last_result = {EPOCH: 4, OBJECTIVE: 0.9, EVALUATION_DONE: 1}
    lines.on_trial_complete(0, [], finished)
    failed.last_result = {EPOCH: 2, FAILURE_REASON: "NonFiniteLossError: train/loss is nan at epoch 2"}
    lines.on_trial_complete(0, [], failed)
    lines.on_step_end(0, [finished, pruned, failed])
    assert log.getvalue().splitlines() == [
        "trial started   gru lr8.2e-4 #0",
        "trial started   conv1d lr8.2e-4 #1",
        "trial started   gru lr8.2e-4 #2",
        f"trial at rung   conv1d lr8.2e-4 #1  epoch 1: {OBJECTIVE} 0.5000",
        f"trial pruned    conv1d lr8.2e-4 #1  at epoch 1: {OBJECTIVE} 0.5000  (1/3 ended)",
        f"trial finished  gru lr8.2e-4 #0  {OBJECTIVE} 0.9000  (2/3 ended)",
        "trial failed    gru lr8.2e-4 #2  NonFiniteLossError: train/loss is nan at epoch 2  (3/3 ended)",
    ]


def test_a_crash_names_its_error_and_a_terminal_shows_the_status_in_place():
    terminal = _Terminal()
    lines = TrialLines(OBJECTIVE, "max", ["backbone"], trials=2, stream=terminal)
    best, crashed = _trial(0), _trial(1)
    best.last_result, best.status = {EPOCH: 4, OBJECTIVE: 0.9, EVALUATION_DONE: 1}, Trial.TERMINATED
    lines.on_trial_complete(0, [], best)
    lines.on_step_end(1, [best, crashed])
    lines.on_trial_error(2, [], crashed)
    lines.on_experiment_end([best, crashed])
    text = terminal.getvalue()
    assert f"\r\033[K1 running · 1 finished, 0 pruned, 0 failed of 2 · best {OBJECTIVE} 0.9000 (gru #0)" in text
    assert "trial failed    gru #1  RuntimeError: CUDA error: out of memory  (2/2 ended)\n" in text
    assert text.endswith("(2/2 ended)\n")  # the status line cleared before the last line, not drawn again
    assert text.count("\r\033[K") == 2  # drawn once, cleared once
