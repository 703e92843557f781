"""Optuna's views of a study: optimisation history, parameter importances and parallel coordinates
(``optuna.visualization.matplotlib``), without leaking pyplot figures or styles.

fANOVA fits a random forest to the completed trials; with few of them the importances change with the seed and
the trials drawn, so below ``RELIABLE_IMPORTANCE_TRIALS`` the figure (and its caption, ``importance_caveat``)
says they are a hint; the figure is still drawn, since a hint is what a short sweep has.
"""

from __future__ import annotations

import textwrap
import warnings
from typing import Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

# Completed trials from which fANOVA's importances are read as more than a hint (it needs tens of trials).
RELIABLE_IMPORTANCE_TRIALS = 20
CAVEAT_LINE_WIDTH = 64  # characters per line of the caveat under the figure's title


def importance_caveat(completed_trials: int) -> str:
    """The sentence a parameter-importance figure carries below ``RELIABLE_IMPORTANCE_TRIALS`` completed trials;
    empty from there on."""
    if completed_trials >= RELIABLE_IMPORTANCE_TRIALS:
        return ""
    return (
        f"Importances from {completed_trials} finished trials are unreliable (fANOVA needs tens of trials); "
        f"read them as a hint."
    )


def _detach_pyplot_figure(fig: Figure) -> Figure:
    """Remove a figure made by pyplot from pyplot's manager (no accumulation across calls) and give it an
    Agg canvas of its own, so it saves like the others whatever pyplot's backend is."""
    import matplotlib.pyplot as plt

    plt.close(fig)
    FigureCanvasAgg(fig)
    return fig


def optuna_figures(study: Any, target_name: str | None = None) -> dict[str, Figure]:
    """Optuna's own plots of ``study``: ``optimization_history``, ``param_importances`` (only with >= 2
    completed trials, >= 1 parameter and the objective varying across them; fANOVA with a fixed seed, so the
    figure is reproducible; below ``RELIABLE_IMPORTANCE_TRIALS`` completed trials it says under its title that
    the importances are a hint, ``importance_caveat``) and ``parallel_coordinate`` (with >= 2 completed trials that have parameters:
    one trial's single line shows nothing and makes Optuna warn about singular axis limits).

    ``target_name`` labels the objective axis (e.g. the sweep's objective metric name); default: the
    study's metric name if it set one, else Optuna's "Objective Value". Multi-objective studies are
    plotted on their first objective.
    """
    import matplotlib.pyplot as plt
    import optuna
    from optuna.importance import FanovaImportanceEvaluator
    from optuna.visualization import matplotlib as ovm

    completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    names = getattr(study, "metric_names", None)
    kwargs: dict[str, Any] = {}
    if len(study.directions) > 1:
        kwargs["target"] = lambda t: t.values[0]
    if target_name or names:
        kwargs["target_name"] = target_name or names[0]
    elif len(study.directions) > 1:
        kwargs["target_name"] = "objective 0"
    varied = [
        name
        for name in sorted({p for t in completed for p in t.params})
        if len({repr(t.params.get(name)) for t in completed}) > 1
    ]

    figures: dict[str, Figure] = {}
    # Optuna's matplotlib plots call plt.style.use("ggplot"), which rewrites the global rcParams: the
    # rc_context puts them back. Its ExperimentalWarning is expected here and silenced here only.
    with warnings.catch_warnings(), matplotlib.rc_context():
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        # A parameter every completed trial shares (a categorical TPE kept to one value) is a flat axis; matplotlib
        # widens it and says so, which is noise in a report.
        warnings.filterwarnings("ignore", message="Attempting to set identical low and high ylims")
        before = set(plt.get_fignums())
        try:
            figures["optimization_history"] = _detach_pyplot_figure(
                ovm.plot_optimization_history(study, **kwargs).figure
            )
            if len(completed) >= 2 and varied:
                try:
                    axes = ovm.plot_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0), **kwargs)
                    caveat = importance_caveat(len(completed))
                    if caveat:  # under Optuna's own title (left-aligned), in lines that fit the figure
                        title = axes.get_title(loc="left")
                        axes.set_title(f"{title}\n{textwrap.fill(caveat, CAVEAT_LINE_WIDTH)}", loc="left")
                    figures["param_importances"] = _detach_pyplot_figure(axes.figure)
                except RuntimeError as error:  # fANOVA: "zero total variance", every trial scored (about) the same
                    if "variance" not in str(error):
                        raise
            if sum(bool(t.params) for t in completed) >= 2:
                figures["parallel_coordinate"] = _detach_pyplot_figure(
                    ovm.plot_parallel_coordinate(study, **kwargs).figure
                )
        finally:
            # Anything else a failed plot left open in pyplot (and only that) is closed too.
            for number in set(plt.get_fignums()) - before:
                plt.close(number)
    return figures
