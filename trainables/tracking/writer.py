"""Two threads that write the sweep's MLflow records of trials, so that Tune's event loop waits on the tracking store
neither for a trial's run to be made, nor for each result, nor for each trial's end.

Tune calls the sweep's MLflow callback on its event loop: a write made there holds back every trial's next result
by a store write or a server round trip, and a trial reports every epoch (docs/measurements.md, "At a cluster's
scale"). ``RunWriter.open`` queues a run's creation under a key of the caller's (the callback's: the Tune trial id),
``RunWriter.log`` a result's metrics and tags under that key; one thread makes the runs and takes everything queued
at once, writing each run's queued results as one ``log_batch`` (a later value of a tag wins), so a busy store gets
fewer, larger writes (runs are written in the order first seen, a run's creation before its results).
``RunWriter.close`` queues a run's end (its outcome, artifacts and status: several requests and uploads) for a
second thread, which writes it once the results queued before it are in the store; a slow upload then holds up
neither the event loop nor other trials' results. A key that was never opened is taken for a run id.

``wait(key)`` returns once that run's queued creation and results are in the store; ``run_id(key)`` is then its
run's id. ``flush`` returns once everything queued is, results and ends (``results_only``: the results); a write
that failed does not stop the others, and ``flush`` hands back what failed (a run that could not be made: its
results too). ``closing()`` names the runs whose end is queued and not yet written, which a Ctrl-C's cleanup must
leave to the writer. ``flush_all`` flushes every writer of the process (a Ctrl-C, whichever callback Tune
restored), and the process's exit does too, printing what failed.

MLflow's own asynchronous logging is not used: its ``set_terminated`` drains every run's queue and stops its
threads, which puts the wait back on the event loop at every trial's end, and it makes runs on the caller's thread.
"""

from __future__ import annotations

import atexit
import queue
import sys
import threading
import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient

EXIT_WAIT_S = 30.0  # how long a process that exits, or a second Ctrl-C, waits for what is still queued
_WRITERS: weakref.WeakSet[RunWriter] = weakref.WeakSet()  # every writer of this process, for flush_all


@dataclass
class _Write:
    key: str
    metrics: list[Metric] = field(default_factory=list)
    tags: list[RunTag] = field(default_factory=list)
    create: Callable[[MlflowClient], str] | None = None  # makes the run and returns its id (``open``) ...
    then: Callable[[MlflowClient, str], Any] | None = None  # ... and what is written with it


class RunWriter:
    """Writes queued MLflow records of runs on threads of its own, started at the first write: runs' creation and
    results on one, runs' ends on another."""

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self._queue: queue.Queue[_Write] = queue.Queue()
        self._ends: queue.Queue[tuple[str, Callable[[MlflowClient, str], Any]]] = queue.Queue()
        self._threads: dict[str, threading.Thread] = {}
        self._run_ids: dict[str, str | None] = {}  # key -> the id of the run made for it (None: it failed)
        self._pending: dict[str, int] = {}  # key -> its creation and results queued and not yet written
        self._closing: dict[str, int] = {}  # key -> its ends queued and not yet written
        self._done = threading.Condition()
        self._failures: list[str] = []
        self._unwritable: dict[str, Counter[str]] = {}  # key -> what it lost, counted: its run was not made
        _WRITERS.add(self)

    def open(
        self, key: str, create: Callable[[MlflowClient], str], then: Callable[[MlflowClient, str], Any] | None = None
    ) -> None:
        """Queue a run's creation: ``create(client)`` makes it and returns its id, ``then(client, run_id)`` writes
        what goes with it; on the results' thread, before anything queued under ``key`` after it. A run that was
        made takes what comes after, whether or not ``then`` failed."""
        with self._done:
            self._run_ids[key] = None  # until it is made
        self._put(
            self._queue,
            self._pending,
            key,
            _Write(key, create=create, then=then),
            "sslsweep-mlflow-writer",
            self._write_forever,
        )

    def log(self, key: str, metrics: Sequence[Metric], tags: Sequence[RunTag] = ()) -> None:
        """Queue one result of a run: its metrics, and tags that go with it (a later value of a tag wins)."""
        write = _Write(key, list(metrics), list(tags))
        self._put(self._queue, self._pending, key, write, "sslsweep-mlflow-writer", self._write_forever)

    def close(self, key: str, end: Callable[[MlflowClient, str], Any]) -> None:
        """Queue a run's end: ``end(client, run_id)`` runs on the ends' thread once the run's creation and results
        queued before it are written (or failed)."""
        self._put(self._ends, self._closing, key, (key, end), "sslsweep-mlflow-closer", self._end_forever)

    def wait(self, key: str, timeout: float | None = None) -> bool:
        """Wait until the creation and results queued for ``key`` so far are written (or failed); False on a
        timeout."""
        with self._done:
            return self._done.wait_for(lambda: not self._pending.get(key), timeout)

    def run_id(self, key: str) -> str | None:
        """The id of the run made for ``key`` (``key`` itself where it was never opened); None until it is made, or
        where it could not be."""
        with self._done:
            return self._run_ids.get(key, key)

    def closing(self) -> set[str]:
        """The runs whose end is queued or being written: their ids, and the keys they were queued under (a run
        whose creation is under way has no id here yet)."""
        with self._done:
            return {*self._closing, *(self._run_ids.get(key) or key for key in self._closing)}

    def flush(self, timeout: float | None = None, results_only: bool = False) -> list[str]:
        """Wait until everything queued is written (or failed; at most ``timeout`` seconds): the results, and the
        runs' ends unless ``results_only``. What failed since the last flush, one line each ("<run id>: <error>";
        "<key>: ..." where no run was made), and what was still queued at a timeout."""
        counts = (self._pending,) if results_only else (self._pending, self._closing)
        with self._done:
            self._done.wait_for(lambda: not any(any(count.values()) for count in counts), timeout)
            unwritten = [
                f"{self._run_ids.get(key) or key}: {number} {what} still queued"
                for what, count in zip(("writes", "ends"), counts)
                for key, number in count.items()
                if number
            ]
            unmade = [
                f"{key}: {' and '.join(f'{number} {what}' for what, number in lost.items())} were not written: "
                "its run could not be made"
                for key, lost in self._unwritable.items()
                if lost
            ]
            failures, self._failures, self._unwritable = self._failures, [], {}
        return failures + unmade + unwritten

    def _put(
        self, into: queue.Queue, counts: dict[str, int], key: str, item: Any, name: str, work: Callable[[], None]
    ) -> None:
        with self._done:
            thread = self._threads.get(name)
            if thread is None or not thread.is_alive():
                self._threads[name] = thread = threading.Thread(target=work, name=name, daemon=True)
                thread.start()
            counts[key] = counts.get(key, 0) + 1
            into.put(item)  # with the count, so that an interruption cannot leave one without the other

    def _done_with(self, counts: dict[str, int], key: str, number: int) -> None:
        with self._done:
            counts[key] -= number
            if not counts[key]:
                del counts[key]
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
                by_run.setdefault(write.key, []).append(write)
            for key, run_writes in by_run.items():
                try:
                    client = client or self._attempt(key, lambda: MlflowClient(self.tracking_uri))
                    if client is not None:
                        self._write_run(client, key, run_writes)
                finally:
                    self._done_with(self._pending, key, len(run_writes))

    def _end_forever(self) -> None:
        client = None
        while True:
            key, end = self._ends.get()
            try:
                self.wait(key)  # its creation and results first
                run_id = self.run_id(key)
                client = client or self._attempt(key, lambda: MlflowClient(self.tracking_uri))
                if client is not None and run_id is not None:
                    self._attempt(run_id, lambda: end(client, run_id))
                elif run_id is None:
                    self._fail(key, "its end was not written: its run could not be made")
            finally:
                self._done_with(self._closing, key, 1)

    def _write_run(self, client: MlflowClient, key: str, writes: list[_Write]) -> None:
        """A run's creation, where it is queued, then its queued results as one log_batch (MLflow's client splits a
        batch over its per-request limits); a failed write is kept for ``flush`` and the other runs' writes still
        go."""
        for write in writes:
            if write.create is not None:
                made = self._attempt(key, lambda: write.create(client))
                with self._done:
                    self._run_ids[key] = made
                if made is not None and write.then is not None:
                    self._attempt(made, lambda: write.then(client, made))
        run_id = self._run_ids.get(key, key)
        metrics = [metric for write in writes for metric in write.metrics]
        tags = {tag.key: tag for write in writes for tag in write.tags}
        if run_id is None:
            with self._done:
                lost = self._unwritable.setdefault(key, Counter())
                lost.update(
                    "results" if write.metrics else "tag updates" for write in writes if write.metrics or write.tags
                )
        elif metrics or tags:
            self._attempt(run_id, lambda: client.log_batch(run_id, metrics=metrics, tags=list(tags.values())))

    def _fail(self, key: str, why: str) -> None:
        with self._done:
            self._failures.append(f"{key}: {why}")

    def _attempt(self, who: str, write: Callable[[], Any]) -> Any:
        try:
            return write()
        except Exception as error:  # noqa: BLE001 - kept for flush to report; the other writes still go
            self._fail(who, f"{type(error).__name__}: {error}")
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
