"""What a trial is called wherever a person reads it (MLflow run names, the report, t-SNE titles, model versions):
its configuration in a few characters and its trial number, e.g. ``conv1d pd256 bs32 lr8.2e-4 #5``.

The number is Optuna's trial number (``results.TRIAL_NUMBER_KEY``): the one Optuna, optuna-dashboard, the
report and the MLflow tag ``sslsweep.trial_number`` show. Only searched hyperparameters are named (what
differs between trials), in the search space's order; the backbone and other categorical text values are
written bare, other names shortened (``batch_size`` -> ``bs``: the initials of a name's words; a one-word name
up to five characters is kept, a longer one cut to four; names that would shorten alike stay whole). A final
repeat and a supervised baseline are named after the trial they re-run or match (``run_label``). What a test
score is over reads the same everywhere too (``test_units_text``).
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

from trainables.records.results import (
    BASELINE_OF_KEY,
    REPEAT_OF_KEY,
    TRAINING_SEED_KEY,
    TRIAL_NUMBER_KEY,
    split_bookkeeping,
)


def short_name(parameter: str) -> str:
    """``batch_size`` -> ``bs``, ``lr`` -> ``lr``, ``temperature`` -> ``temp``."""
    words = [word for word in parameter.split("_") if word]
    if len(words) > 1:
        return "".join(word[0] for word in words)
    return parameter if len(parameter) <= 5 else parameter[:4]


def short_value(value: Any) -> str:
    """Two significant digits for floats (``8.2e-4``, ``0.25``, ``12``), integers and text as they are."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        if value == 0 or not math.isfinite(value):
            return f"{value:g}"
        if abs(value) < 1e-2 or abs(value) >= 1e4:
            mantissa, exponent = f"{value:.1e}".split("e")
            return f"{mantissa.removesuffix('.0')}e{int(exponent)}"
        return f"{float(f'{value:.2g}'):g}"
    return str(value)


def configuration_label(params: Mapping[str, Any], searched: Iterable[str]) -> str:
    """The searched hyperparameters of ``params``, short: ``conv1d pd256 bs32 lr8.2e-4``. Two searched names that
    shorten alike (``sim_coeff``, ``std_coeff``) keep their whole names."""
    searched = list(searched)
    shorts = [short_name(key) for key in searched]
    parts = []
    for key, short in zip(searched, shorts):
        value = params.get(key)
        if value is None:
            continue
        if isinstance(value, str):
            parts.append(value)
        else:
            parts.append(f"{short if shorts.count(short) == 1 else key}{short_value(value)}")
    return " ".join(parts)


def trial_label(params: Mapping[str, Any], searched: Iterable[str], number: int | str | None) -> str:
    """``configuration_label`` and ``#<trial number>`` (none for a sweep without a searcher)."""
    label = configuration_label(params, searched)
    suffix = "" if number is None or str(number) == "" else f"#{number}"
    return " ".join(part for part in (label, suffix) if part) or "trial"


def run_label(config: Mapping[str, Any], searched: Iterable[str], named_runs: Mapping[str, str] | None = None) -> str:
    """What the run of a trial ``config`` (hyperparameters and sslsweep's own keys) is called, whatever its role: a
    search trial ``trial_label``; a final repeat the name of the trial it re-runs and ``seed <training seed>``; a
    supervised baseline ``supervised <backbone> <fraction> labels for <trial>``. ``named_runs``: run id -> name
    of the runs named so far, where the re-run or matched trial's name is looked up (its own configuration's
    label where it is not there)."""
    params, bookkeeping = split_bookkeeping(dict(config))
    named_runs = named_runs or {}
    name = trial_label(params, searched, bookkeeping.get(TRIAL_NUMBER_KEY))
    if REPEAT_OF_KEY in bookkeeping:
        repeated = named_runs.get(bookkeeping[REPEAT_OF_KEY], "")
        name = f"{repeated or name} seed {bookkeeping.get(TRAINING_SEED_KEY, '')}".strip()
    if BASELINE_OF_KEY in bookkeeping:
        matched = named_runs.get(bookkeeping[BASELINE_OF_KEY], "")
        name = f"supervised {params.get('backbone', '')} {short_value(params.get('label_fraction'))} labels"
        name += f" for {matched}" if matched else ""
    return name


def test_units_text(count: int, noun: str, task: str) -> str:
    """How many units the test scores are over and what one unit is worth, e.g. "40 test series: one is 2.5 points
    of accuracy" (the step only for classification, whose scores move by one unit at a time)."""
    text = f"{count} test {noun}"
    if task == "classification":
        text += f": one is {100 / count:.2g} points of accuracy"
    return text
