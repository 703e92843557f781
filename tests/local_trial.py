"""The training loop's trial context in the test's own process, for tests that run ``run_trial_loop`` without Ray."""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path

from trainables.records.results import unpacked
from trainables.trial.context import TrialContext


class LocalContext(TrialContext):
    """The training loop in this process: reports recorded (unpacked, as MLflow records them), checkpoints kept in
    a folder, optional crash."""

    def __init__(self, store: Path, resume_from: Path | None = None, crash_after_epoch: int | None = None):
        self.store, self.resume_from, self.crash_after_epoch = store, resume_from, crash_after_epoch
        self.reports: list[dict] = []

    def report(self, metrics, checkpoint_dir=None):
        metrics = unpacked(metrics)
        self.reports.append(metrics)
        if checkpoint_dir:
            target = self.store / f"epoch{metrics['epoch']}"
            shutil.copytree(checkpoint_dir, target)
        if self.crash_after_epoch is not None and metrics["epoch"] == self.crash_after_epoch:
            raise KeyboardInterrupt("simulated node loss")

    @contextmanager
    def restored_checkpoint(self):
        yield str(self.resume_from) if self.resume_from else None
