"""Two threads that write the sweep's MLflow records of trials, so that Tune's event loop waits on the tracking store
neither for each result nor for each trial's end.

Tune calls the sweep's MLflow callback on its event loop: a write made there holds back every trial's next result
by a store write or a server round trip, and a trial reports every epoch (docs/measurements.md, "At a cluster's
scale"). ``RunWriter.log`` queues a result's metrics and tags; one thread takes everything queued at once and writes
each run's queued results as one ``log_batch`` (a later value of a tag wins), so a busy store gets fewer, larger
writes (runs are written in the order first seen). ``RunWriter.close`` queues a run's end (its outcome, artifacts
and status: several requests and uploads) for a second thread, which writes it once the results queued before it
are in the store; a slow upload then holds up neither the event loop nor other trials' results. A run's params are
written by the callback itself, with the run.

``wait(run_id)`` returns once that run's queued results are in the store; ``flush`` once everything queued is,
results and ends (``results_only``: the results); a write that failed does not stop the others, and ``flush`` hands
back what failed. ``closing()`` names the runs whose end is queued and not yet written, which a Ctrl-C's cleanup
must leave to the writer. ``flush_all`` flushes every writer of the process (a Ctrl-C, whichever callback Tune
restored), and the process's exit does too, printing what failed.

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
    """Writes queued MLflow records of runs on threads of its own, started at the first write: results on one, runs'
    ends on another."""

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self._queue: queue.Queue[_Write] = queue.Queue()
        self._ends: queue.Queue[tuple[str, Callable[[MlflowClient], Any]]] = queue.Queue()
        self._threads: dict[str, threading.Thread] = {}
        self._pending: dict[str, int] = {}  # run id -> its results queued and not yet written
        self._closing: dict[str, int] = {}  # run id -> its ends queued and not yet written
        self._done = threading.Condition()
        self._failures: list[str] = []
        _WRITERS.add(self)

    def log(self, run_id: str, metrics: Sequence[Metric], tags: Sequence[RunTag] = ()) -> None:
        """Queue one result of a run: its metrics, and tags that go with it (a later value of a tag wins)."""
        write = _Write(run_id, list(metrics), list(tags))
        self._put(self._queue, self._pending, run_id, write, "sslsweep-mlflow-writer", self._write_forever)

    def close(self, run_id: str, end: Callable[[MlflowClient], Any]) -> None:
        """Queue a run's end: ``end(client)`` runs on the ends' thread once the run's results queued before it are
        written (or failed)."""
        self._put(self._ends, self._closing, run_id, (run_id, end), "sslsweep-mlflow-closer", self._end_forever)

    def wait(self, run_id: str, timeout: float | None = None) -> bool:
        """Wait until the results queued for ``run_id`` so far are written (or failed); False on a timeout."""
        with self._done:
            return self._done.wait_for(lambda: not self._pending.get(run_id), timeout)

    def closing(self) -> set[str]:
        """The runs whose end is queued or being written."""
        with self._done:
            return set(self._closing)

    def flush(self, timeout: float | None = None, results_only: bool = False) -> list[str]:
        """Wait until everything queued is written (or failed; at most ``timeout`` seconds): the results, and the
        runs' ends unless ``results_only``. What failed since the last flush, one line each ("<run id>: <error>"),
        and what was still queued at a timeout."""
        counts = (self._pending,) if results_only else (self._pending, self._closing)
        with self._done:
            self._done.wait_for(lambda: not any(any(count.values()) for count in counts), timeout)
            unwritten = [
                f"{run_id}: {number} {what} still queued"
                for what, count in zip(("writes", "ends"), counts)
                for run_id, number in count.items()
                if number
            ]
            failures, self._failures = self._failures, []
        return failures + unwritten

    def _put(
        self, into: queue.Queue, counts: dict[str, int], run_id: str, item: Any, name: str, work: Callable[[], None]
    ) -> None:
        with self._done:
            thread = self._threads.get(name)
            if thread is None or not thread.is_alive():
                self._threads[name] = thread = threading.Thread(target=work, name=name, daemon=True)
                thread.start()
            counts[run_id] = counts.get(run_id, 0) + 1
            into.put(item)  # with the count, so that an interruption cannot leave one without the other

    def _done_with(self, counts: dict[str, int], run_id: str, number: int) -> None:
        with self._done:
            counts[run_id] -= number
            if not counts[run_id]:
                del counts[run_id]
            self._done.notify_all()

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
                    self._done_with(self._pending, run_id, len(run_writes))

    def _end_forever(self) -> None:
        client = None
        while True:
            run_id, end = self._ends.get()
            try:
                self.wait(run_id)  # its results first
                client = client or self._attempt(run_id, lambda: MlflowClient(self.tracking_uri))
                if client is not None:
                    self._attempt(run_id, lambda: end(client))
            finally:
                self._done_with(self._closing, run_id, 1)

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


def closing_runs() -> set[str]:
    """The runs of this process whose end is queued or being written (``RunWriter.closing``): a cleanup that closes
    open runs leaves these to their writer."""
    return {run_id for writer in list(_WRITERS) for run_id in writer.closing()}


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
