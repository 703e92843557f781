"""One thread that writes a sweep's per-trial MLflow records, in the order they were made, so that Tune's event loop
never waits on the tracking store.

Tune calls the sweep's MLflow callback on its event loop: each write there (a result's metrics, a trial's params,
its end) holds back every trial's next result by a store write or a server round trip (10 ms on sqlite, 30-40 ms
through a tracking server per result; docs/measurements.md, "At a cluster's scale"). ``RunWriter.log`` queues a
result's metrics and tags, ``RunWriter.call`` any other write of a run (its params, its end); one thread takes
everything queued at once and writes each run's queued results as one ``log_batch`` (within MLflow's per-batch
limits) before that run's next other write, so a run's records keep their order and a busy store gets fewer,
larger writes. ``flush`` waits until everything queued is in the store and raises the first write that failed.

MLflow's own asynchronous logging is not used: its ``set_terminated`` drains every run's queue and stops its
threads, which puts the wait back on the event loop at every trial's end (0.1-0.7 s there when measured).
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient

# MLflow's limits for one log_batch (mlflow.utils.validation).
METRICS_PER_BATCH = 1000
TAGS_PER_BATCH = 100


@dataclass
class _Write:
    run_id: str
    metrics: list[Metric] = field(default_factory=list)
    tags: list[RunTag] = field(default_factory=list)
    call: Callable[[MlflowClient], Any] | None = None  # any other write, made after the results queued before it


class RunWriter:
    """Writes queued MLflow records of runs on a thread of its own, started at the first write (and again after a
    process fork or an unpickling: the thread is not part of the state)."""

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self._queue: queue.Queue[_Write] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self._failure: Exception | None = None

    def log(self, run_id: str, metrics: list[Metric], tags: list[RunTag] = ()) -> None:
        """Queue one result of a run: its metrics, and tags that go with it (a later value of a tag wins)."""
        self._put(_Write(run_id, list(metrics), list(tags)))

    def call(self, run_id: str, call: Callable[[MlflowClient], Any]) -> None:
        """Queue ``call(client)``, a write of the run's that comes after everything queued for it so far."""
        self._put(_Write(run_id, call=call))

    def flush(self) -> None:
        """Wait until every queued write is in the store; raise the first that failed since the last flush."""
        self._queue.join()
        failure, self._failure = self._failure, None
        if failure is not None:
            raise RuntimeError(f"writing to the MLflow tracking store failed: {failure}") from failure

    def _put(self, write: _Write) -> None:
        with self._start:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._write_forever, name="sslsweep-mlflow-writer", daemon=True)
                self._thread.start()
        self._queue.put(write)

    def _write_forever(self) -> None:
        client = MlflowClient(self.tracking_uri)
        while True:
            writes = [self._queue.get()]
            while True:  # everything else queued by now, written together
                try:
                    writes.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._write(client, writes)
            finally:
                for _ in writes:
                    self._queue.task_done()

    def _write(self, client: MlflowClient, writes: list[_Write]) -> None:
        by_run: dict[str, list[_Write]] = {}
        for write in writes:
            by_run.setdefault(write.run_id, []).append(write)
        for run_id, run_writes in by_run.items():
            try:
                metrics: list[Metric] = []
                tags: dict[str, RunTag] = {}
                for write in run_writes:
                    if write.call is None:
                        metrics += write.metrics
                        tags.update({tag.key: tag for tag in write.tags})
                        continue
                    _log_batch(client, run_id, metrics, list(tags.values()))
                    metrics, tags = [], {}
                    write.call(client)
                _log_batch(client, run_id, metrics, list(tags.values()))
            except Exception as error:  # noqa: BLE001 - kept for flush to raise; the other runs are still written
                if self._failure is None:
                    self._failure = error


def _log_batch(client: MlflowClient, run_id: str, metrics: list[Metric], tags: list[RunTag]) -> None:
    for part in range(max(-(-len(metrics) // METRICS_PER_BATCH), -(-len(tags) // TAGS_PER_BATCH))):
        client.log_batch(
            run_id,
            metrics=metrics[part * METRICS_PER_BATCH : (part + 1) * METRICS_PER_BATCH],
            tags=tags[part * TAGS_PER_BATCH : (part + 1) * TAGS_PER_BATCH],
        )
