"""One thread that writes the sweep's per-epoch MLflow records of trials, so that Tune's event loop does not wait on
the tracking store for each result.

Tune calls the sweep's MLflow callback on its event loop: a result written there holds back every trial's next
result by a store write or a server round trip, and a trial reports every epoch (docs/measurements.md, "At a
cluster's scale"). ``RunWriter.log`` queues a result's metrics and tags; one thread takes everything queued at once
and writes each run's queued results as one ``log_batch`` (a later value of a tag wins), so a busy store gets fewer,
larger writes (runs are written in the order first seen). A run's other writes (its params, its end) are made by the
callback itself, after ``wait(run_id)`` where they must follow its results. ``wait(run_id)`` returns once everything
queued for that run is in the store, ``flush`` once everything queued is; a write that failed does not stop the
others, and ``flush`` hands back what failed. ``flush_all`` flushes every writer of the process (a Ctrl-C, whichever
callback Tune restored), and the process's exit does too, printing what failed.

MLflow's own asynchronous logging is not used: its ``set_terminated`` drains every run's queue and stops its
threads, which puts the wait back on the event loop at every trial's end.
"""

from __future__ import annotations

import atexit
import queue
import sys
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient

EXIT_WAIT_S = 30.0  # how long a process that exits, or a second Ctrl-C, waits for what is still queued
_WRITERS: weakref.WeakSet[RunWriter] = weakref.WeakSet()  # every writer of this process, for flush_all


@dataclass
class _Write:
    run_id: str
    metrics: list[Metric] = field(default_factory=list)
    tags: list[RunTag] = field(default_factory=list)


class RunWriter:
    """Writes queued MLflow records of runs on a thread of its own, started at the first write."""

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self._queue: queue.Queue[_Write] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._pending: dict[str, int] = {}  # run id -> its writes queued and not yet done
        self._done = threading.Condition()
        self._failures: list[str] = []
        _WRITERS.add(self)

    def log(self, run_id: str, metrics: Sequence[Metric], tags: Sequence[RunTag] = ()) -> None:
        """Queue one result of a run: its metrics, and tags that go with it (a later value of a tag wins)."""
        self._put(_Write(run_id, list(metrics), list(tags)))

    def wait(self, run_id: str, timeout: float | None = None) -> bool:
        """Wait until everything queued for ``run_id`` so far is written (or failed); False on a timeout."""
        with self._done:
            return self._done.wait_for(lambda: not self._pending.get(run_id), timeout)

    def flush(self, timeout: float | None = None) -> list[str]:
        """Wait until everything queued is written (or failed; at most ``timeout`` seconds); what failed since the
        last flush, one line each ("<run id>: <error>"), and what was still queued at a timeout."""
        with self._done:
            self._done.wait_for(lambda: not any(self._pending.values()), timeout)
            unwritten = [f"{run_id}: {count} writes still queued" for run_id, count in self._pending.items() if count]
            failures, self._failures = self._failures, []
        return failures + unwritten

    def _put(self, write: _Write) -> None:
        with self._done:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._write_forever, name="sslsweep-mlflow-writer", daemon=True)
                self._thread.start()
            self._pending[write.run_id] = self._pending.get(write.run_id, 0) + 1
            self._queue.put(write)  # with the count, so that an interruption cannot leave one without the other

    def _write_forever(self) -> None:
        client = None
        while True:
            writes = [self._queue.get()]
            while True:  # everything else queued by now, written together
                try:
                    writes.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            by_run: dict[str, list[_Write]] = {}
            for write in writes:
                by_run.setdefault(write.run_id, []).append(write)
            for run_id, run_writes in by_run.items():
                try:
                    client = client or self._attempt(run_id, lambda: MlflowClient(self.tracking_uri))
                    if client is not None:
                        self._write_run(client, run_id, run_writes)
                finally:
                    with self._done:
                        self._pending[run_id] -= len(run_writes)
                        if not self._pending[run_id]:
                            del self._pending[run_id]
                        self._done.notify_all()

    def _write_run(self, client: MlflowClient, run_id: str, writes: list[_Write]) -> None:
        """A run's queued results as one log_batch (MLflow's client splits a batch over its per-request limits); a
        failed write is kept for ``flush`` and the other runs' writes still go."""
        metrics = [metric for write in writes for metric in write.metrics]
        tags = {tag.key: tag for write in writes for tag in write.tags}
        if metrics or tags:
            self._attempt(run_id, lambda: client.log_batch(run_id, metrics=metrics, tags=list(tags.values())))

    def _attempt(self, run_id: str, write: Callable[[], Any]) -> Any:
        try:
            return write()
        except Exception as error:  # noqa: BLE001 - kept for flush to report; the other writes still go
            with self._done:
                self._failures.append(f"{run_id}: {type(error).__name__}: {error}")
            return None


def flush_all(timeout: float | None = None) -> list[str]:
    """Flush every writer of this process (``RunWriter.flush``); what failed or was still queued, one line each."""
    return [line for writer in list(_WRITERS) for line in writer.flush(timeout)]


def report_unwritten(lines: list[str]) -> None:
    """One warning naming the runs whose records are missing, on stderr; nothing where there are none."""
    if lines:
        print(
            f"warning: {len(lines)} MLflow writes failed or were not made, their records are missing from these "
            "runs: " + "; ".join(lines[:5]) + (" ..." if len(lines) > 5 else ""),
            file=sys.stderr,
            flush=True,
        )


@atexit.register
def _flush_at_exit() -> None:  # a process that exits without flushing still writes what it queued
    report_unwritten(flush_all(EXIT_WAIT_S))
