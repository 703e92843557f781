"""sslsweep's Tune searcher, an Optuna study driven by ask and tell (``OptunaStudySearcher``), the sampler a
search-space file names (``optuna_sampler``), and Optuna's GridSampler made usable that way (``AskTellGridSampler``).

Each trial Tune starts is one Optuna trial: ``suggest`` asks the study for a point of the search space (on a thread
of the searcher's own, so that Tune's event loop goes on with other trials' results while the sampler draws) and
hands it out with the Optuna trial number (``results.TRIAL_NUMBER_KEY`` in the config), which the trial folds into the value
the searcher compares (``results.RANKED_OBJECTIVE``) as the tie-break of ``selection.py``. Every result the trial reports (one per epoch) reaches the
study as an intermediate value at its ``training_iteration``. When the trial ends the study is told COMPLETE only if
the trial ran its downstream evaluation, PRUNED if the scheduler stopped it (its per-epoch values stay in the study,
which is how Optuna's samplers use pruned trials), FAIL if it failed (``results.outcome``). Ray's own
``OptunaSearch`` tells COMPLETE with the last reported value whenever the last result has the metric, including
trials ASHA stopped after a few epochs and trials that raised: TPE would then treat a 2-epoch score as a finished
observation.

A sweep resumed after its driver died (``tune.py --resume``) gets back the searcher Tune last saved; trials the
dead driver asked Optuna for after that save are still RUNNING in the study. ``restore`` finds them and
``suggest`` hands them out first, so the resumed sweep runs those points rather than asking for new ones: the
study never holds an abandoned copy of a point beside the one that ran. Trials that crashed (told FAIL, marked
``sslsweep_crashed``) are resumed by Tune from their checkpoints; a finished Optuna trial cannot be reopened, so
each carries on in a new Optuna trial of the same point, marked ``sslsweep_retry_of`` (what Optuna's own
``RetryFailedTrialCallback`` does for trials whose heartbeat stopped).
"""

from __future__ import annotations

import concurrent.futures
import inspect
import logging
import pickle
import threading
import warnings
from typing import Callable, Optional, Sequence

import numpy as np
import optuna
from optuna.trial import TrialState
from ray.tune.result import TRAINING_ITERATION
from ray.tune.search import ConcurrencyLimiter, Searcher

from trainables.records.results import TRIAL_NUMBER_KEY, Outcome, outcome
from trainables.searchspace.sweep_spec import METHOD_PARAM, SamplerSpec
from trainables.tracking.stores import OPTUNA_VARIABLE, redact, with_credentials

logger = logging.getLogger(__name__)

_STATES = {Outcome.FINISHED: TrialState.COMPLETE, Outcome.PRUNED: TrialState.PRUNED, Outcome.FAILED: TrialState.FAIL}
CRASHED_ATTR = "sslsweep_crashed"  # a FAIL that was a crash (Tune resumes it), not sslsweep's own verdict
RETRY_OF_ATTR = "sslsweep_retry_of"  # the number of the crashed Optuna trial a retry carries on
ASK_WAIT_S = 0.05  # how long suggest waits for an ask under way, while trials run, before Tune's loop goes on
# TPE's own default number of start-up trials, where a search-space file names none.
TPE_STARTUP_TRIALS: int = inspect.signature(optuna.samplers.TPESampler).parameters["n_startup_trials"].default


def optuna_sampler(
    sampler: SamplerSpec, seed: int, grid: dict | None = None, conditional: bool = False
) -> optuna.samplers.BaseSampler:
    """The sampler of ``sampler`` (a search-space file's ``sampler``), seeded; ``grid``: the searched values of a
    grid sweep (``SweepSpec.grid``); ``conditional``: the space depends on a drawn value (a sweep across methods),
    which TPE models jointly per group of parameters drawn together (``multivariate`` with ``group``) instead of
    one parameter at a time over trials that may not have it.

    TPE runs with ``constant_liar``: a point asked while other trials still run is drawn as if those had scored
    the worst value, so concurrent trials spread over the space instead of piling onto the current best region
    (without it, 8 trials asked at once on a continuous space land within 5 % of one another many times more
    often than random points do). Optuna 5 makes it TPE's default; sslsweep states it for Optuna 4."""
    if sampler.type == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if sampler.type == "grid":
        return AskTellGridSampler(grid or {}, seed=seed)
    with warnings.catch_warnings():  # multivariate and group are "experimental" in Optuna, and say so each time
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        joint = {"multivariate": True, "group": True} if conditional else {}
        return optuna.samplers.TPESampler(
            seed=seed, constant_liar=True, n_startup_trials=startup_trial_count(sampler), **joint
        )


def startup_trial_count(sampler: SamplerSpec) -> int:
    """How many trials TPE draws at random before it models anything: the file's ``startup_trials``, else
    Optuna's default."""
    return sampler.startup_trials or TPE_STARTUP_TRIALS


def method_rotation(methods: Sequence[str], sampler: SamplerSpec, seed: int, trials: int) -> list[dict]:
    """The method of each of TPE's start-up trials in a sweep across methods: every method in turn, in an order
    drawn from ``seed``; the rest of each point is TPE's random start-up draw. At random, start-up draws leave
    methods out (5 draws over 3 methods miss at least one in 38 % of seeds, 10 draws in 5 %), and TPE then models a method it has never
    seen from its prior alone, so that method is rarely drawn again. Partial points for
    ``OptunaStudySearcher(first=...)``. Random search draws the method at random like everything else."""
    if sampler.type != "tpe" or not methods:
        return []
    order = [str(name) for name in np.random.default_rng(seed).permutation(list(methods))]
    count = min(startup_trial_count(sampler), trials)
    return [{METHOD_PARAM: order[i % len(order)]} for i in range(count)]


class CredentialFreeRDBStorage(optuna.storages.RDBStorage):
    """Optuna's ``RDBStorage``, pickled without the password of its URL.

    Tune pickles the searcher, and with it the study's storage, into ``searcher-state-*.pkl`` under
    ``SSLSWEEP_RAY_STORAGE`` (often shared storage). The pickle keeps the redacted URL; unpickled (``--resume``),
    the storage reads the full one from ``SSLSWEEP_OPTUNA_STORAGE`` where it runs (``stores.with_credentials``).
    """

    def __getstate__(self) -> dict:
        return {**super().__getstate__(), "url": redact(self.url)}

    def __setstate__(self, state: dict) -> None:
        super().__setstate__({**state, "url": with_credentials(state["url"], OPTUNA_VARIABLE)})


class OptunaStudySearcher(Searcher):
    """A Tune ``Searcher`` holding one Optuna study (``study``, created or loaded by name in ``storage``).

    ``space`` maps each searched hyperparameter to its Optuna distribution; a conditional space (a sweep across
    methods, whose parameters depend on the method drawn) is ``define`` instead, called with each new Optuna trial
    to draw its point by run (``SweepSpec.suggest``); ``first``: the points (whole or partial) of the study's first
    trials, put in Optuna's queue (``enqueue_trial``) one at a time as each is asked for, so that a retry a resumed
    sweep queues is never overtaken by them (``method_rotation``). ``sampler`` is used as given (seeded by its creator),
    Optuna's default TPE when None. The study never prunes by itself (Optuna's ``NopPruner``):
    Tune's scheduler decides, and the searcher tells the study. What Tune saves (``searcher-state-*.pkl``) is
    ``get_state``: the study with its sampler (and the sampler's random state), the storage, and which Tune trial
    runs which Optuna trial.
    """

    def __init__(
        self,
        *,
        space: dict[str, optuna.distributions.BaseDistribution],
        metric: str,
        mode: str,
        study_name: str,
        storage: optuna.storages.BaseStorage,
        sampler: Optional[optuna.samplers.BaseSampler] = None,
        define: Optional[Callable[[optuna.Trial], dict]] = None,
        first: Sequence[dict] = (),
    ) -> None:
        super().__init__(metric=metric, mode=mode)
        self.space = space
        self.define = define
        self.first = list(first)
        self.storage = storage
        self.study = optuna.create_study(
            storage=storage,
            sampler=sampler,
            pruner=optuna.pruners.NopPruner(),
            study_name=study_name,
            load_if_exists=True,
            direction="minimize" if mode == "min" else "maximize",
        )
        self.trials: dict[str, optuna.Trial] = {}  # Tune trial id -> the Optuna trial it runs
        self.told: set[str] = set()  # Tune trial ids whose end the study was told
        self.reopened: set[str] = set()  # Tune trial ids of crashed trials a resumed sweep carries on (retries)
        self.orphans: list[int] = []  # Optuna trial numbers asked for after the save a resumed sweep restored
        self._asking: Optional[concurrent.futures.Future] = None  # the ask under way (_asked), or drawn and unclaimed

    def __getstate__(self) -> dict:
        # Tune pickles the searcher (tuner.pkl); an ask under way is this process's own.
        return {**self.__dict__, "_asking": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update({"_asking": None, **state})

    def suggest(self, trial_id: str) -> Optional[dict]:
        """The point for Tune's new trial, or None while one is being drawn (Tune asks again at its next step)."""
        if trial_id not in self.trials:
            trial = self._trial(self.orphans.pop(0)) if self.orphans else self._asked()
            if trial is None:
                return None
            self.trials[trial_id] = trial
        trial = self.trials[trial_id]
        return {**trial.params, TRIAL_NUMBER_KEY: trial.number}  # flat: the space's keys are hyperparameter names

    def _asked(self) -> Optional[optuna.Trial]:
        """A new Optuna trial, asked for on a thread of its own: the one drawn since the last call, or None while it
        is still being drawn (after waiting ``ASK_WAIT_S`` for it; the whole draw where no trial of this searcher
        runs, when Tune has nothing else to do and would otherwise wait a second before asking again). Tune calls
        ``suggest`` on its event loop, and TPE's draw over the study's trials took a quarter of a second there in
        the median on a loaded machine, holding every trial's next result back (docs/measurements.md, "At a
        cluster's scale"). One ask at a time, and only when Tune wants a trial: after a normal end the study holds
        no point asked for and never run (a Ctrl-C during a draw leaves one, which ``--resume`` runs first)."""
        if self._asking is None:
            self._asking = concurrent.futures.Future()
            threading.Thread(
                target=self._ask_into, args=(self._asking,), name="sslsweep-optuna-ask", daemon=True
            ).start()
        running = len(self.trials) - len(self.told)
        try:
            trial = self._asking.result(timeout=ASK_WAIT_S if running else None)
        except concurrent.futures.TimeoutError:
            return None
        finally:
            if self._asking.done():  # drawn, or failed (raised here); not on a Ctrl-C during the wait
                self._asking = None
        return trial

    def _ask_into(self, future: concurrent.futures.Future) -> None:
        """``_ask`` on the calling thread (a daemon: an unreachable storage does not hold the driver's exit), its
        trial or its error into ``future``."""
        try:
            self._queue_first()
            future.set_result(self._ask())
        except BaseException as error:  # noqa: BLE001 - handed to suggest, which raises it on Tune's event loop
            future.set_exception(error)

    def _ask(self) -> optuna.Trial:
        """A new Optuna trial with its point drawn (or an enqueued point: a retry's)."""
        if getattr(self, "define", None) is None:  # searchers pickled before ``define`` existed have none
            return self.study.ask(fixed_distributions=self.space)
        trial = self.study.ask()
        self.define(trial)
        return trial

    def _queue_first(self) -> None:
        """The next of ``first`` into Optuna's queue while the study holds fewer trials (retries aside) than
        ``first`` has points."""
        first = getattr(self, "first", [])  # searchers pickled before ``first`` existed have none
        if first:
            asked = sum(RETRY_OF_ATTR not in trial.user_attrs for trial in self.study.get_trials(deepcopy=False))
            if asked < len(first):
                self.study.enqueue_trial(first[asked])
            else:
                self.first = []  # every first point asked for: no more counting the study's trials

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id in self.told:
            logger.warning(f"Received additional result for trial {trial_id}, but it already finished: {result}")
            return
        try:
            self.trials[trial_id].report(result[self.metric], result[TRAINING_ITERATION])
        except optuna.exceptions.UpdateFinishedTrialError:
            # The trial ended after Tune last saved its state and before the driver died, so the resumed sweep
            # runs it again from its checkpoint (see on_trial_complete); Optuna already has its values.
            pass

    def on_trial_complete(self, trial_id: str, result: Optional[dict] = None, error: bool = False) -> None:
        if trial_id in self.told:
            logger.warning(f"Received additional completion for trial {trial_id}, but it already finished: {result}")
            return
        trial = self.trials[trial_id]
        state = _STATES[outcome(result, error)]
        value = result.get(self.metric) if (result and state == TrialState.COMPLETE) else None
        if state == TrialState.COMPLETE and value is None:
            state = TrialState.FAIL  # finished without the objective: nothing to learn from
        try:
            if error:
                trial.set_user_attr(CRASHED_ATTR, True)
            self.study.tell(trial, value, state=state)
        except (ValueError, RuntimeError):  # "Cannot tell a COMPLETE trial", UpdateFinishedTrialError
            # Told already: the trial ended after Tune last saved its state and before the driver died, so the
            # resumed sweep ran it again; Optuna keeps its first verdict.
            if not any(
                t.number == trial.number and t.state.is_finished() for t in self.study.get_trials(deepcopy=False)
            ):
                raise
        self.told.add(trial_id)

    def get_state(self) -> dict:
        # Each Optuna trial goes with the steps it had reported at the save: a trial resumed from its checkpoint
        # reports later steps again, and their values replace those of the driver that died. An ask under way
        # finishes first: it adds to the study (and its sampler's random state) that is pickled here. Its point,
        # not handed out yet, is then a RUNNING trial a resumed searcher runs first (``restore``).
        if self._asking is not None:
            concurrent.futures.wait([self._asking])
        return {
            "study": self.study,
            "storage": self.storage,
            "trials": dict(self.trials),
            "told": set(self.told),
            "reopened": set(self.reopened),
        }

    def set_state(self, state: dict) -> None:
        self.study, self.storage = state["study"], state["storage"]
        self.trials, self.told, self.reopened = state["trials"], state["told"], state["reopened"]

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as file:
            pickle.dump(self.get_state(), file)

    def restore(self, checkpoint_path: str) -> None:
        """The state Tune saved, and the study's trials begun since: crashed trials reopened as retries, trials
        asked for after the save (still RUNNING) or queued and not yet asked for, kept for ``suggest`` to hand out
        first."""
        with open(checkpoint_path, "rb") as file:
            self.set_state(pickle.load(file))
        # A point the dead driver had queued and not yet asked for (a first point, a retry) is asked for now, so
        # that it runs as the RUNNING trials below do and a retry queued next is never handed out in its place.
        while self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            self._ask()
        by_number = {trial.number: trial for trial in self.study.get_trials(deepcopy=False)}
        # A retry an earlier resume began (its driver died too before Tune saved the searcher again) goes on.
        open_retries = {
            trial.user_attrs[RETRY_OF_ATTR]: trial.number
            for trial in by_number.values()
            if RETRY_OF_ATTR in trial.user_attrs and trial.state == TrialState.RUNNING
        }
        for trial_id, trial in list(self.trials.items()):
            ended = by_number[trial.number]
            if ended.state == TrialState.FAIL and ended.user_attrs.get(CRASHED_ATTR):
                if ended.number in open_retries:
                    retry = self._trial(open_retries[ended.number])
                else:
                    self.study.enqueue_trial(ended.params, user_attrs={RETRY_OF_ATTR: ended.number})
                    retry = self._ask()
                self.trials[trial_id] = retry
                self.told.discard(trial_id)
                self.reopened.add(trial_id)
        known = {trial.number for trial in self.trials.values()}
        self.orphans = [
            trial.number
            for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if trial.number not in known
        ]

    def _trial(self, number: int) -> optuna.Trial:
        """The study's trial of this number, to report to and tell (``study.ask`` hands out only new trials)."""
        study_id = self.storage.get_study_id_from_name(self.study.study_name)
        return optuna.Trial(self.study, self.storage.get_trial_id_from_study_id_trial_number(study_id, number))


class ResumableConcurrencyLimiter(ConcurrencyLimiter):
    """Ray's ``ConcurrencyLimiter``, letting the end of a resumed crashed trial reach the searcher.

    The limiter drops the completion of a trial it no longer counts as live, and a trial that crashed left that
    set when it ended. When ``tune.py --resume`` has Tune carry such a trial on, its end would never reach Optuna
    and the retry ``OptunaStudySearcher.restore`` opened for it would stay RUNNING.
    """

    def on_trial_complete(self, trial_id: str, result: Optional[dict] = None, error: bool = False) -> None:
        reopened = getattr(self.searcher, "reopened", set())  # benchmarks/search_efficiency.py wraps Ray's too
        if trial_id not in self.live_trials and trial_id in reopened:
            self.searcher.reopened = reopened - {trial_id}
            return self.searcher.on_trial_complete(trial_id, result=result, error=error)
        return super().on_trial_complete(trial_id, result=result, error=error)


class AskTellGridSampler(optuna.samplers.GridSampler):
    """Optuna's ``GridSampler`` as ``OptunaStudySearcher`` drives it, by ask and tell.

    ``GridSampler.after_trial`` calls ``study.stop()`` once every cell has been visited, which only works inside
    ``study.optimize``; the searcher tells results outside it, where ``stop()`` raises RuntimeError and the last
    trial's result would never reach the study. Here the sweep's length is the grid's size (``budget.trials``,
    checked when the search space is loaded), so Tune ends the sweep and nothing needs stopping.
    """

    def after_trial(self, study, trial, state, values) -> None:
        pass
