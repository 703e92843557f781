"""A real sqlite MLflow store laid out the way a sweep writes it (parent run per sweep with ``start_parent_run``'s
tags, params and searchspace.yaml; child runs with the callback's tags), filled with metrics the report tests know:
selection on validation, traps with better test scores, repeats, supervised baselines, a missing label fraction,
a re-run sweep name, a minimised objective, a segmentation sweep; optionally the number of test units each finished
trial was scored on (``data/test_units``, and the parent's ``sslsweep.test_unit``), and a sweep with kNN scores."""

from __future__ import annotations

import time

import yaml
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from selfsup.evaluation.metric_names import TEST_UNITS_METRIC
from trainables.records.results import OBJECTIVE_METRIC
from trainables.records.tags import TEST_UNIT_TAG, TRIAL_INDEX_TAG

STATUS = {"finished": "FINISHED", "pruned": "FINISHED", "failed": "FAILED"}


class Store:
    """Writes runs as ``tracking.mlflow_callback`` does; remembers run ids by a short name for the assertions."""

    def __init__(self, uri: str, artifacts: str) -> None:
        self.uri, self.artifacts, self.client, self.ids, self.tags = uri, artifacts, MlflowClient(uri), {}, {}
        self.test_units: dict[str, int] = {}  # parent key -> the count its finished trials record
        self.experiment = self.client.create_experiment("sslsweep/report-tables", artifact_location=artifacts)

    def parent(
        self, key, name, method, objective, *, mode=None, search=None, start_time=None, log_space=True, test_units=None
    ):
        """A sweep's parent run; ``test_units`` (count, unit), e.g. (40, "series"): its finished trials and repeats
        record the count (``data/test_units``), the parent the unit (``sslsweep.test_unit``)."""
        tags = {
            "sslsweep.sweep": name,
            "sslsweep.method": method,
            "sslsweep.pretext_data": "aeon:BasicMotions",
            "sslsweep.downstream_data": "aeon:BasicMotions",
            "sslsweep.objective": objective,
        }
        run_id = self.client.create_run(
            self.experiment,
            start_time=start_time,
            run_name=f"{name}-20250101-000000",
            tags={
                **tags,
                "sslsweep.role": "sweep",
                **({TEST_UNIT_TAG: test_units[1]} if test_units else {}),
            },
        ).info.run_id
        if test_units:
            self.test_units[key] = test_units[0]
        if log_space:
            objective_entry = {"metric": objective, **({"mode": mode} if mode else {})}
            space = {"name": name, "method": method, "objective": objective_entry, "search": search or {}}
            self.client.log_text(run_id, yaml.safe_dump(space, sort_keys=False), "searchspace.yaml")
        params = {"method": method, "trials": 8, "epochs": 12, "workers_per_trial": 1, "seed": 0, "scheduler": "asha"}
        self.client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])
        self.ids[key] = run_id
        self.tags[key] = tags
        return run_id

    def child(self, key, parent, index, outcome, params, metrics, *, role="trial", tags=None, history=None):
        run_tags = {
            **self.tags[parent],
            "mlflow.parentRunId": self.ids[parent],
            "sslsweep.trial_id": key,
            TRIAL_INDEX_TAG: str(index),
            "sslsweep.backbone": str(params.get("backbone", "")),
            "sslsweep.role": role,
            "sslsweep.outcome": outcome,
            **(tags or {}),
        }
        run_id = self.client.create_run(self.experiment, run_name=key, tags=run_tags).info.run_id
        now = int(time.time() * 1000)
        objective = self.tags[parent]["sslsweep.objective"]
        if outcome == "finished" and role != "supervised_baseline" and objective in metrics:
            metrics = {**metrics, OBJECTIVE_METRIC: metrics[objective]}  # as the callback logs it at the end
        if outcome == "finished" and role in ("trial", "repeat") and parent in self.test_units:
            metrics = {**metrics, TEST_UNITS_METRIC: float(self.test_units[parent])}
        logged = [Metric(k, v, now, 0) for k, v in metrics.items()]
        logged += [Metric(k, v, now, step) for k, values in (history or {}).items() for step, v in enumerate(values)]
        self.client.log_batch(run_id, metrics=logged, params=[Param(k, str(v)) for k, v in params.items()])
        self.client.set_terminated(run_id, status=STATUS[outcome])
        self.ids[key] = run_id
        return run_id


def scores(protocol, by_fraction, prefix="", names=("acc", "f1")):
    """{fraction: (acc, f1)} -> {"test/linear/acc/frac_1.0": acc, ...}."""
    return {
        f"{prefix}test/{protocol}/{name}/frac_{fraction!r}": value
        for fraction, values in by_fraction.items()
        for name, value in zip(names, values)
    }


BARLOW_OBJECTIVE = "cv/linear/f1/frac_0.1"
BARLOW_SEARCH = {
    "backbone": {"type": "categorical", "choices": ["conv1d", "gru"]},
    "projector_dim": {"type": "categorical", "choices": [256, 512, 1024]},
    "lambda_offdiag": {"type": "float", "low": 0.001, "high": 0.01, "log": True},
}


def barlow(store: Store, test_units=None) -> None:
    store.parent(
        "barlow",
        "barlow-har",
        "barlow_twins",
        BARLOW_OBJECTIVE,
        mode="max",
        search=BARLOW_SEARCH,
        test_units=test_units,
    )

    def trial(key, index, outcome, backbone, dim, lam, objective, metrics=None, **kwargs):
        params = {"backbone": backbone, "projector_dim": dim, "lambda_offdiag": lam, "lr": 0.001}
        store.child(
            key,
            "barlow",
            index,
            outcome,
            params,
            {**({BARLOW_OBJECTIVE: objective} if objective is not None else {}), **(metrics or {})},
            **kwargs,
        )

    trial("t0", 0, "finished", "conv1d", 256, 0.001, 0.70, scores("linear", {1.0: (0.60, 0.50)}))
    trial(
        "t1",
        1,
        "finished",
        "conv1d",
        1024,
        0.001,
        0.85,
        {  # the conv1d trial validation selects
            **scores("linear", {0.01: (0.35, 0.30), 0.5: (0.52, 0.47), 1.0: (0.583, 0.514)}),
            **scores("linear", {0.01: (0.25, 0.20), 0.5: (0.45, 0.35), 1.0: (0.50, 0.40)}, prefix="random_init/"),
        },
    )
    # A trap: the best test scores of all, but a worse validation score: never selected.
    trial("t2", 2, "finished", "conv1d", 512, 0.005, 0.80, scores("linear", {1.0: (0.95, 0.94)}))
    # gru's selected trial never evaluated 1 % of the labels: those cells must stay empty.
    trial(
        "t3",
        3,
        "finished",
        "gru",
        256,
        0.005,
        0.75,
        {
            **scores("linear", {0.5: (0.50, 0.44), 1.0: (0.542, 0.476)}),
            **scores("linear", {1.0: (0.40, 0.30)}, prefix="random_init/"),
        },
    )
    trial("t4", 4, "pruned", "gru", 512, 0.001, 0.99)  # stopped early: a low-fidelity value never counts
    trial("t5", 5, "failed", "gru", 1024, 0.01, None)
    # Final repeats of t1 with other training seeds.
    for key, index, outcome, objective, acc in [
        ("r6", 6, "finished", 0.84, 0.601),
        ("r7", 7, "finished", 0.86, 0.619),
        ("r8", 8, "failed", None, None),
    ]:
        trial(
            key,
            index,
            outcome,
            "conv1d",
            1024,
            0.001,
            objective,
            scores("linear", {1.0: (acc, 0.52)}) if acc else {},
            role="repeat",
            tags={"sslsweep.repeat_of": store.ids["t1"]},
        )
    # Supervised baselines of t1 at 100 % and 50 % (none at 1 %), and one of the trap t2: never t1's.
    for key, of, fraction, acc in [("s1.0", "t1", 1.0, 0.55), ("s0.5", "t1", 0.5, 0.48), ("s2", "t2", 1.0, 0.99)]:
        store.child(
            key,
            "barlow",
            9,
            "finished",
            {"backbone": "conv1d", "label_fraction": fraction},
            {BARLOW_OBJECTIVE: 1.0, **scores("linear", {fraction: (acc, acc - 0.1)})},
            role="supervised_baseline",
            tags={"sslsweep.method": "supervised", "sslsweep.baseline_of": store.ids[of]},
        )


def lfr(store: Store) -> None:
    objective = "val/linear/acc/frac_1.0"
    # An older run of the same sweep name: its (better) trial must not be reported.
    store.parent("lfr-old", "lfr-har", "lfr", objective, start_time=1_000)
    store.child(
        "old0",
        "lfr-old",
        0,
        "finished",
        {"backbone": "conv1d"},
        {objective: 0.99, **scores("linear", {1.0: (0.11, 0.11)})},
    )
    store.parent("lfr", "lfr-har", "lfr", objective, start_time=2_000)  # no mode in the file: max
    store.child(
        "l0",
        "lfr",
        0,
        "finished",
        {"backbone": "conv1d", "num_projectors": 12},
        {
            objective: 0.90,
            **scores("linear", {1.0: (0.701, 0.626)}),
            **scores("linear", {1.0: (0.55, 0.45)}, prefix="random_init/"),
        },
    )
    store.child(
        "l1",
        "lfr",
        1,
        "finished",
        {"backbone": "gru", "num_projectors": 8},
        {objective: 0.80, **scores("linear", {1.0: (0.583, 0.533)})},
    )


def cpc(store: Store) -> None:
    # No searchspace.yaml: a train/loss objective is assumed to be minimised.
    store.parent("cpc", "cpc-har", "cpc", "train/loss", log_space=False)
    for key, index, loss, acc in [("c0", 0, 0.5, 0.60), ("c1", 1, 0.3, 0.41)]:
        store.child(
            key,
            "cpc",
            index,
            "finished",
            {"backbone": "conv1d"},
            {"train/loss": loss, **scores("linear", {1.0: (acc, acc - 0.1)})},
        )


def seismic(store: Store) -> None:
    objective = "val/seg_frozen/miou/frac_0.05"
    search = {"num_projectors": {"type": "categorical", "choices": [5, 12, 16]}}
    store.parent("seismic", "lfr-seismic", "lfr", objective, mode="max", search=search)
    miou = {0.01: (0.52, 0.60), 0.05: (0.60, 0.68), 1.0: (0.7147, 0.80)}
    store.child(
        "p0",
        "seismic",
        0,
        "finished",
        {"backbone": "resnet50", "num_projectors": 12},
        {
            objective: 0.70,
            **scores("seg_frozen", miou, names=("miou", "mf1")),
            **scores(
                "seg_frozen", {0.01: (0.30, 0.35), 1.0: (0.55, 0.60)}, prefix="random_init/", names=("miou", "mf1")
            ),
            "test/seg_frozen/iou_sand/frac_1.0": 0.80,
            "test/seg_frozen/iou_shale/frac_1.0": 0.60,
            "random_init/test/seg_frozen/iou_sand/frac_1.0": 0.50,
            "random_init/test/seg_frozen/iou_shale/frac_1.0": 0.55,
        },
        history={"train/loss": [1.0, 0.8, 0.6]},
    )
    store.child(
        "p1",
        "seismic",
        1,
        "finished",
        {"backbone": "resnet50", "num_projectors": 16},
        {objective: 0.65, "train/loss": 0.5, **scores("seg_frozen", {1.0: (0.90, 0.90)}, names=("miou", "mf1"))},
    )
    store.child("p2", "seismic", 2, "pruned", {"backbone": "resnet50", "num_projectors": 5}, {objective: 0.99})


KNN_OBJECTIVE = "val/linear/acc/frac_1.0"


def knn(store: Store, key="simclr", name="simclr-har", method="simclr", *, test_units=None, with_knn=True) -> None:
    """A sweep tested with the linear probe and (``with_knn``) kNN at 10 % and 100 % of the labels: linear gains
    at both, kNN loses 5 points at 10 % (the untrained backbone's neighbours are better there)."""
    store.parent(key, name, method, KNN_OBJECTIVE, mode="max", test_units=test_units)
    for trial, index, backbone, objective, base in [
        (f"{key}0", 0, "conv1d", 0.80, 0.70),
        (f"{key}1", 1, "gru", 0.70, 0.60),
    ]:
        metrics = {
            KNN_OBJECTIVE: objective,
            **scores("linear", {0.1: (base - 0.2, base - 0.3), 1.0: (base, base - 0.1)}),
            **scores("linear", {0.1: (base - 0.3, base - 0.4), 1.0: (base - 0.1, base - 0.2)}, prefix="random_init/"),
        }
        if with_knn:
            metrics.update(scores("knn", {0.1: (base - 0.25, base - 0.3), 1.0: (base - 0.05, base - 0.1)}))
            metrics.update(
                scores("knn", {0.1: (base - 0.2, base - 0.25), 1.0: (base - 0.1, base - 0.15)}, prefix="random_init/")
            )
        store.child(trial, key, index, "finished", {"backbone": backbone}, metrics)


def filled_store(directory, *, test_units: bool = False) -> Store:
    """The four sweeps above, and one without a finished trial (empty-sweep); with ``test_units``, barlow-har's
    finished trials record 40 test series."""
    store = Store(f"sqlite:///{directory / 'mlflow.db'}", (directory / "artifacts").as_uri())
    barlow(store, test_units=(40, "series") if test_units else None)
    for fill in (lfr, cpc, seismic):
        fill(store)
    store.parent("empty", "empty-sweep", "simclr", "val/knn/acc/frac_1.0", mode="max")
    store.child("e0", "empty", 0, "pruned", {"backbone": "conv1d"}, {"val/knn/acc/frac_1.0": 0.5})
    store.child("e1", "empty", 1, "failed", {"backbone": "gru"}, {})
    return store


# Markup where sslsweep writes Markdown: raw HTML, a javascript: link, a table cell's end, a line break.
HOSTILE = "<img src=x onerror=alert(1)>|[x](javascript:alert(1))"
HOSTILE_VALUE = "<img src=x onerror=alert(1)>|conv\nrow"


def hostile(store: Store) -> str:
    """A sweep whose name, a searched parameter value (the backbone, so a row label of every table) and a trial
    id carry ``HOSTILE`` markup; its parent run id (a name with markup is no selector to type)."""
    objective = "val/linear/acc/frac_1.0"
    search = {
        "backbone": {"type": "categorical", "choices": [HOSTILE_VALUE, "gru"]},
        "projector_dim": {"type": "categorical", "choices": [256, 512]},
    }
    store.parent("hostile", HOSTILE, "simclr", objective, mode="max", search=search)
    for key, index, backbone, dim, value, acc in [
        (f"<b>h0</b>|{HOSTILE}", 0, HOSTILE_VALUE, 256, 0.80, 0.70),
        ("h1", 1, "gru", 512, 0.70, 0.60),
        ("h2", 2, HOSTILE_VALUE, 512, 0.75, 0.65),
    ]:
        store.child(
            key,
            "hostile",
            index,
            "finished",
            {"backbone": backbone, "projector_dim": dim},
            {
                objective: value,
                "train/loss": 1 - value,
                **scores("linear", {0.1: (acc - 0.2, acc - 0.3), 1.0: (acc, acc - 0.1)}),
                **scores("linear", {1.0: (acc - 0.1, acc - 0.2)}, prefix="random_init/"),
            },
        )
    return store.ids["hostile"]
