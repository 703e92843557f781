"""Which trial each row of a table reports, and its scores: ``select`` (per technique x backbone, the best finished
search trial on validation, with its finished repeats), ``Selected`` (that trial's test, untrained and supervised
cells), ``report_protocol`` and ``test_scores``, the note every caption ends with (``selection_note``) and what one
test unit is worth (``units_note``).

Selection is always on validation: each sweep's own objective (tag ``sslsweep.objective``) in its own mode
(``tracking.runs``), with ``records.selection``'s rule (finished search trials only, ties by creation); test scores
only report.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import pandas as pd

from selfsup.evaluation.metric_names import (
    ALL_PROTOCOLS,
    SEGMENTATION_PROTOCOLS,
    TEST_UNITS_METRIC,
    eval_metric_name,
    parse_eval_metric_name,
)
from trainables.records.names import test_units_text
from trainables.records.results import Outcome
from trainables.records.selection import best_first, best_per_backbone
from trainables.records.tags import BASELINE_OF_TAG, DOMAIN_TAG, TEST_UNIT_TAG, tag_column
from trainables.report.tables._table import EMPTY, Cell, summary
from trainables.tracking.runs import ReportError, SweepRuns

HEADLINE_METRICS = {"classification": ("acc", "f1"), "segmentation": ("miou", "mf1")}
METRIC_LABELS = {
    "acc": "acc",
    "f1": "F1",
    "top5": "top-5",
    "miou": "mIoU",
    "mf1": "mF1",
    "pixel_acc": "pixel acc",
    "fwiou": "fwIoU",
}
# Where the objective names no protocol (train/loss, health/...), the probe reported: the reference reports'.
PROTOCOL_PREFERENCE = ("linear", "seg_frozen") + ALL_PROTOCOLS
# The protocol a headline table shows beside the report's own where the trial recorded it: a kNN readout has no
# trained head, so a pretrained backbone that only looks better through a fitted probe shows here.
SECOND_PROTOCOL = "knn"
PROTOCOL_LABELS = {"knn": "kNN"}


def protocol_label(protocol: str) -> str:
    """A protocol as a column label: kNN, linear, mlp, finetune, seg_frozen."""
    return PROTOCOL_LABELS.get(protocol, protocol)


@dataclass(frozen=True)
class Selected:
    """The trial a technique x backbone row reports: selected on validation, with its finished repeats."""

    sweep: SweepRuns
    run: pd.Series
    members: pd.DataFrame  # the trial and its finished repeats: what the row's test cells average
    protocol: str
    task: str  # "classification" | "segmentation"

    @property
    def method(self) -> str:
        """The trial's method: its sweep's, or the one it drew in a sweep across methods (its run's tag)."""
        return str(self.run.get("method") or self.sweep.method)

    @property
    def backbone(self) -> str:
        return str(self.run["backbone"])

    @property
    def metrics(self) -> tuple[str, ...]:
        return HEADLINE_METRICS[self.task]

    def test_fractions(self, prefix: str = "", protocol: str | None = None) -> list[float]:
        """Label fractions at which the trial has a test score of the headline metric with ``protocol`` (default:
        its report protocol)."""
        return fractions(self.members, "test", protocol or self.protocol, self.metrics[0], prefix)

    @property
    def headline_fraction(self) -> float | None:
        """The fewest labels the trial was tested with (the smallest label fraction evaluated): where labels are
        scarce, pretraining has the most to add, and a pretrained backbone that adds nothing shows most plainly.
        None where the trial has no test score of its protocol's headline metric."""
        evaluated = self.test_fractions()
        return min(evaluated) if evaluated else None

    def test(self, metric: str, fraction: float, prefix: str = "", protocol: str | None = None) -> Cell:
        """The test ``metric`` at ``fraction`` with ``protocol`` (default: the report protocol), over the trial and
        its finished repeats; ``prefix`` ``random_init/`` for the same backbone untrained."""
        name = eval_metric_name("test", protocol or self.protocol, metric, fraction, prefix)
        return summary(self.members, f"metrics.{name}")

    @property
    def baselines(self) -> pd.DataFrame:
        """Its finished supervised baselines (``sslsweep.baseline_of`` = its run id), one per fraction; in a sweep
        across methods, where they are matched with the best trial of each backbone whatever its method, those of
        that trial for the other methods' rows of the backbone."""
        baselines = self.sweep.baselines
        if tag_column(BASELINE_OF_TAG) not in baselines or "params.label_fraction" not in baselines:
            return baselines.iloc[0:0]
        finished = baselines[baselines["outcome"] == Outcome.FINISHED]
        own = finished[finished[tag_column(BASELINE_OF_TAG)] == self.run["run_id"]]
        if own.empty:
            best = self.sweep.finished_trials
            best = best[best["backbone"] == self.run["backbone"]]
            if len(best):
                own = finished[finished[tag_column(BASELINE_OF_TAG)] == best.iloc[0]["run_id"]]
        return own

    @property
    def has_supervised(self) -> bool:
        """Whether a supervised baseline of this trial finished (what a caption may name)."""
        return not self.baselines.empty

    def supervised_fractions(self) -> list[float]:
        return sorted(
            pd.to_numeric(self.baselines.get("params.label_fraction", pd.Series(dtype=float)), errors="coerce")
            .dropna()
            .unique()
        )

    def supervised(self, metric: str, fraction: float) -> Cell:
        """The supervised baseline trained on ``fraction`` of the labels, scored with the probe at that fraction
        (as ``ssl_vs_supervised`` reads it)."""
        baselines = self.baselines
        if baselines.empty:
            return EMPTY
        trained_on = pd.to_numeric(baselines["params.label_fraction"], errors="coerce")
        return summary(
            baselines[(trained_on - fraction).abs() < 1e-9],
            f"metrics.{eval_metric_name('test', self.protocol, metric, fraction)}",
        )

    @property
    def test_units(self) -> int | None:
        """How many test units its test scores are over (``data/test_units``); None where not recorded (sweeps
        recorded before the count was)."""
        counts = pd.to_numeric(
            self.members.get(f"metrics.{TEST_UNITS_METRIC}", pd.Series(dtype=float)), errors="coerce"
        )
        counts = counts.dropna()
        return int(counts.iloc[0]) if len(counts) else None

    def test_units_text(self) -> str:
        """E.g. "40 test series: one is 2.5 points of accuracy"; empty where the count was not recorded."""
        count = self.test_units
        if not count:
            return ""
        return test_units_text(count, self.sweep.tags.get(TEST_UNIT_TAG) or "units", self.task)

    def source(self) -> dict[str, str]:
        return {"sweep": self.sweep.name, "trial": self.run.get("trial"), "run_id": self.run["run_id"]}


def with_repeats(sweep: SweepRuns, run_id: str) -> pd.DataFrame:
    """A trial and its finished repeats: the runs one configuration's cells average."""
    return pd.concat([sweep.runs[sweep.runs["run_id"] == run_id], sweep.finished_repeats_of(run_id)])


def eval_columns(runs: pd.DataFrame):
    """(column, parsed name) of every evaluation metric column with a value in ``runs``."""
    for column in runs.columns:
        if column.startswith("metrics.") and runs[column].notna().any():
            parsed = parse_eval_metric_name(column.removeprefix("metrics."))
            if parsed is not None:
                yield column, parsed


def fractions(runs: pd.DataFrame, split: str, protocol: str, metric: str, prefix: str = "") -> list[float]:
    """The label fractions at which ``runs`` recorded ``split``/``protocol``/``metric`` (with ``prefix``)."""
    return sorted(
        {
            parsed.fraction
            for _, parsed in eval_columns(runs)
            if (parsed.split, parsed.protocol, parsed.metric, parsed.prefix) == (split, protocol, metric, prefix)
        }
    )


def test_scores(runs: pd.DataFrame, protocol: str, metric: str, prefix: str = "") -> dict[float, float]:
    """Label fraction -> the mean test ``metric`` of ``runs`` with ``protocol``, at every fraction they evaluated."""
    return {
        fraction: summary(runs, f"metrics.{eval_metric_name('test', protocol, metric, fraction, prefix)}").mean
        for fraction in fractions(runs, "test", protocol, metric, prefix)
    }


def report_protocol(sweep: SweepRuns) -> str:
    """The objective's protocol; for objectives without one (train/loss, health/...), the preferred protocol
    the finished trials were tested with."""
    parsed = parse_eval_metric_name(sweep.objective)
    if parsed is not None:
        return parsed.protocol
    tested = {parsed.protocol for _, parsed in eval_columns(sweep.finished_trials) if parsed.split == "test"}
    for protocol in PROTOCOL_PREFERENCE:
        if protocol in tested:
            return protocol
    raise ReportError(f"sweep '{sweep.name}': its finished trials record no test evaluation to report")


def report_task(sweep: SweepRuns, protocol: str) -> str:
    """ "classification" or "segmentation": the task of the domain the sweep recorded (``DOMAIN_TAG``), or for a
    sweep recorded without one, of the ``protocol`` the report scores it with."""
    from selfsup.domains import DOMAINS, domain_named

    domain = sweep.tags.get(DOMAIN_TAG)
    if domain in DOMAINS:
        return domain_named(domain).task
    return "segmentation" if protocol in SEGMENTATION_PROTOCOLS else "classification"


def check_selects_on_validation(sweep: SweepRuns) -> None:
    parsed = parse_eval_metric_name(sweep.objective)
    if not sweep.objective or (parsed is not None and parsed.split == "test"):
        raise ReportError(
            f"sweep '{sweep.name}' records objective '{sweep.objective}': a report selects on validation only"
        )


def select(sweeps: list[SweepRuns]) -> list[Selected]:
    """Per (method, backbone) over all sweeps: the best finished search trial on validation, sorted by method and
    backbone. Sweeps of one method share a row per backbone only if they select on the same objective."""
    candidates: dict[tuple[str, str], list[tuple[SweepRuns, pd.Series]]] = defaultdict(list)
    for sweep in sweeps:
        check_selects_on_validation(sweep)
        finished = sweep.finished_trials
        # selection.py groups by params.backbone; the frame's backbone also covers runs that only tagged it.
        finished = finished.assign(**{"params.backbone": finished["backbone"].fillna("")})
        # A sweep across methods holds several: each method's trials select apart (the frame's method column).
        for method, trials in finished.groupby("method", sort=True):
            for backbone, run in best_per_backbone(trials).items():
                candidates[(str(method), str(backbone))].append((sweep, run))
    selected = []
    for (method, backbone), entries in sorted(candidates.items()):
        objectives = sorted({(sweep.objective, sweep.mode) for sweep, _ in entries})
        if len(objectives) > 1:
            raise ReportError(
                f"{method} / {backbone}: sweeps {', '.join(sorted(s.name for s, _ in entries))} select "
                f"on different objectives ({', '.join(f'{o} {m}' for o, m in objectives)}); report "
                f"them in separate tables"
            )
        sweep0 = entries[0][0]
        pooled = pd.DataFrame([run for _, run in entries]).assign(_entry=range(len(entries)))
        sweep, run = entries[int(best_first(pooled, sweep0.objective_column, sweep0.mode).iloc[0]["_entry"])]
        protocol = report_protocol(sweep)
        members = with_repeats(sweep, run["run_id"])
        selected.append(Selected(sweep, run, members, protocol, report_task(sweep, protocol)))
    return selected


def units_note(selections: list[Selected]) -> str:
    """What one test unit is worth, for a caption: "Test scores over 40 test series: one is 2.5 points of
    accuracy." (each distinct text once, where rows differ); empty where no row recorded its count."""
    texts = list(dict.fromkeys(text for text in (s.test_units_text() for s in selections) if text))
    return f" Test scores over {'; '.join(texts)}." if texts else ""


def selection_note(sweeps: list[SweepRuns]) -> str:
    """Which metric chose, per sweep: 'selected on validation cv/linear/f1/frac_0.1 (max; barlow-har)'."""
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for sweep in sweeps:
        groups[(sweep.objective, sweep.mode, sweep.mode_source)].append(sweep.name)
    parts = [
        f"{objective} ({'higher' if mode == 'max' else 'lower'} is better"
        f"{', mode assumed: no searchspace.yaml logged' if source == 'assumed' else ''}; "
        f"{', '.join(sorted(names))})"
        for (objective, mode, source), names in sorted(groups.items())
    ]
    refitted = sorted(
        sweep.name
        for sweep in sweeps
        if ((sweep.search_space or {}).get("evaluation") or {}).get("refit_on_validation")
    )
    refit = (
        f" Test readouts fitted on training + validation units after selection "
        f"(evaluation.refit_on_validation; {', '.join(refitted)})."
        if refitted
        else ""
    )
    return "Selected on validation: " + "; ".join(parts) + "; test scores only report." + refit


def metric_labels(metrics) -> list[str]:
    """The labels of ``metrics`` (``METRIC_LABELS``) in headline order: acc, F1, mIoU, mF1."""
    order = [metric for metrics_ in HEADLINE_METRICS.values() for metric in metrics_]
    return [METRIC_LABELS[metric] for metric in order if metric in set(metrics)]


def row_sources(index_names: list[str], keys: list[tuple], selections: list[Selected]) -> pd.DataFrame:
    """A table's ``sources``: the sweep, trial and run id behind each row (``keys``, one selection per row)."""
    return pd.DataFrame(
        [s.source() for s in selections], index=pd.MultiIndex.from_tuples(keys, names=index_names) if keys else None
    )
