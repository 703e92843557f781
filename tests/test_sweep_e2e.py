"""End to end: real sweeps through `python tune.py` (Ray Tune + Ray Train + Optuna + ASHA + MLflow) on the
bundled BasicMotions data, then assertions on what MLflow, the Optuna study and the report files hold."""

from __future__ import annotations

import concurrent.futures
import json
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml
from browser import CHROMIUM, mlflow_ui, page_text
from mlflow.tracking import MlflowClient
from sweeps import ROOT, child_runs_frame, run_in_one_driver, run_tune, sweep_file, sweep_parent

from trainables.records.results import RANKED_OBJECTIVE
from trainables.sweep.searcher import CRASHED_ATTR

pytestmark = pytest.mark.slow


def _trial_pids(home: Path) -> set[int]:
    """The process ids that reported trial results (Tune's result.json files)."""
    return {
        json.loads(line)["pid"]
        for path in home.glob("ray_results/*/run_trial_*/result.json")
        for line in path.read_text().splitlines()
        if line.strip()
    }


def test_sweep_records_every_trial_with_its_true_status(tmp_path):
    home = tmp_path / "home"
    trials, epochs = 6, 4
    path = sweep_file(
        tmp_path,
        "e2e-barlow",
        # A label-free objective whose values differ between configurations, so ASHA has something to cut.
        objective={"metric": "train/loss", "mode": "min"},
        budget={"trials": trials, "epochs": epochs, "checkpoint_every": 2, "max_concurrent": 2},
        scheduler={"type": "asha", "grace_period": 1, "reduction_factor": 3},
        final={"registry": True},  # its Models page is opened below
    )
    run = run_tune(path, home)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "best trial" in run.stdout and "python tune.py ui" in run.stdout
    assert "  (test scores over 40 test series: one is 2.5 points of accuracy)\n" in run.stdout
    # One line per trial event, not Tune's tables (those come with --verbose): each trial started and ended once;
    # ASHA's rungs (epochs 1 and 3 of 4) on the way; no status line outside a terminal.
    lines = run.stdout.splitlines()
    assert len(lines) < 100 and "started with configuration" not in run.stdout and "\r" not in run.stdout
    events = [line.split()[1] for line in lines if line.startswith("trial ")]
    assert events.count("started") == trials, lines
    assert sum(events.count(end) for end in ("finished", "pruned", "failed")) == trials, lines
    assert events.count("at") >= trials and all(
        re.search(r" epoch [13]: train/loss \d", line) for line in lines if line.startswith("trial at rung")
    ), lines

    client, parent = sweep_parent(home, "e2e-barlow")
    assert parent.info.status == "FINISHED"
    # Six trials, one data preparation: the sweep's cache served every trial.
    assert parent.data.metrics["sweep/data_preparations"] == 1
    children = child_runs_frame(home, parent.info.run_id)
    assert len(children) == trials
    outcomes = children["tags.sslsweep.outcome"].tolist()
    # A pruned trial ended as its scheduler planned (FINISHED: MLflow's UI draws KILLED as it draws a crash); its
    # name says it was pruned, and only finished trials carry the objective column that ranks them.
    expected_status = {"finished": "FINISHED", "pruned": "FINISHED", "failed": "FAILED"}
    for outcome, status in zip(outcomes, children["status"]):
        assert expected_status[outcome] == status
    finished = children[children["tags.sslsweep.outcome"] == "finished"]
    pruned = children[children["tags.sslsweep.outcome"] == "pruned"]
    assert finished["metrics.objective"].notna().all() and pruned["metrics.objective"].isna().all()
    assert (finished["metrics.objective"] == finished["metrics.train/loss"]).all()  # the value itself, no tie-break
    assert pruned["tags.mlflow.runName"].str.contains(" pruned at epoch ").all()
    # Names from the configuration and Optuna's trial number; params hold hyperparameters only; no Tune counters.
    for _, child in children.iterrows():
        number = child["tags.sslsweep.trial_number"]
        assert (
            child["tags.mlflow.runName"].startswith(f"{child['params.backbone']} ")
            and f" #{number}" in child["tags.mlflow.runName"]
        )
    assert sorted(children["tags.sslsweep.trial_number"].astype(int)) == list(range(trials))
    assert not {"params.trial_number", "params.training_seed"} & set(children.columns)
    flags = {"metrics.training_iteration", "metrics.time_this_iter_s", "metrics.epoch", "metrics.reported_at"}
    assert not flags & set(children.columns)
    gain = finished["metrics.test/linear/acc/frac_1.0"] - finished["metrics.random_init/test/linear/acc/frac_1.0"]
    assert finished["metrics.gain/test/linear/acc/frac_1.0"].tolist() == pytest.approx(gain.tolist())
    # ASHA stopped some trials and let others finish, while trial processes were reused (reuse_actors):
    # fewer processes ran the trials than there were trials, and every status above is still true.
    assert "finished" in outcomes and "pruned" in outcomes, outcomes
    assert len(_trial_pids(home)) < trials
    # Of Tune's own per-trial files, result.json only: no TensorBoard events or CSV copy of what MLflow holds.
    trial_files = {path.name for path in home.glob("ray_results/*/run_trial_*/*") if path.is_file()}
    assert "result.json" in trial_files and "progress.csv" not in trial_files, trial_files
    assert not any(name.startswith("events.out.tfevents") for name in trial_files), trial_files
    # Where each trial trained: one local node here (tests/test_multinode.py spreads a sweep over two).
    assert children["tags.sslsweep.node_id"].notna().all() and children["tags.sslsweep.node_id"].nunique() == 1

    for _, child in children.iterrows():
        history = client.get_metric_history(child.run_id, "train/loss")
        assert [m.step for m in sorted(history, key=lambda m: m.step)] == list(range(1, len(history) + 1))
        assert child["params.backbone"] in ("conv1d", "gru")
        assert child["tags.sslsweep.method"] == "barlow_twins"
        embeddings = [a.path for a in client.list_artifacts(child.run_id, "embeddings")]
        if child["tags.sslsweep.outcome"] == "finished":
            assert len(history) == epochs
            # The t-SNE table: one row per evaluation unit (BasicMotions series) of each split, split and label.
            assert embeddings == ["embeddings/embeddings.parquet"]
            table = pd.read_parquet(client.download_artifacts(child.run_id, embeddings[0], str(tmp_path)))
            assert table.groupby("split").size().to_dict() == {"train": 32, "validation": 8, "test": 40}
            assert set(table["label"]) == {"badminton", "running", "standing", "walking"}
            assert table[[c for c in table.columns if c.startswith("f")]].notna().all().all()
            # Its own figures, which MLflow previews in the run's artifacts: t-SNE map, score by label fraction.
            figures = [a.path for a in client.list_artifacts(child.run_id, "figures")]
            assert figures == ["figures/label_fraction.png", "figures/tsne.png"]
            for name in (
                "test/linear/acc/frac_0.5",
                "test/knn/f1/frac_1.0",
                "val/linear/acc/frac_1.0",
                "random_init/test/linear/acc/frac_1.0",
                "health/rankme",
                "health/embedding_std",
            ):
                assert 0 <= child[f"metrics.{name}"] <= 256, name
        elif child["tags.sslsweep.outcome"] == "pruned":
            assert len(history) < epochs and embeddings == []
            assert pd.isna(child.get("metrics.test/linear/acc/frac_1.0"))

    study_name = next(line.split("'")[1] for line in run.stdout.splitlines() if line.startswith("optuna"))
    study = optuna.load_study(study_name=study_name, storage=f"sqlite:///{home / 'optuna.db'}")
    states = [t.state for t in study.trials]
    assert len(states) == trials
    assert states.count(optuna.trial.TrialState.COMPLETE) == outcomes.count("finished")
    assert states.count(optuna.trial.TrialState.PRUNED) == outcomes.count("pruned")
    for trial in study.trials:
        if trial.state == optuna.trial.TrialState.PRUNED:
            assert trial.value is None and len(trial.intermediate_values) < epochs

    # The sweep's own report, read back from MLflow: every finished trial among the configurations, the best
    # trial's backbone beside itself untrained, a t-SNE map per backbone selected, Optuna's views of the study.
    report_dir = home / "reports" / "e2e-barlow"
    configurations = pd.read_csv(report_dir / "tables" / "e2e-barlow_configurations.csv")
    assert set(configurations["trial"]) == {"#" + number for number in finished["tags.sslsweep.trial_number"]}
    techniques = pd.read_csv(report_dir / "tables" / "technique_by_backbone.csv")
    assert set(techniques["method"]) == {"barlow_twins"}
    # At the fewest labels (50 %) and at 100 %, the objective's linear probe with kNN beside it.
    assert {
        "SSL linear acc 50 %",
        "untrained linear acc 50 %",
        "gain linear acc 50 % (pts)",
        "SSL kNN acc 50 %",
        "gain kNN acc 50 % (pts)",
        "SSL linear acc 100 %",
    } <= set(techniques.columns)
    selected = children[children["tags.sslsweep.outcome"] == "finished"]
    assert set(techniques["backbone"]) == set(selected["params.backbone"])
    figures = {path.name for path in (report_dir / "figures").iterdir()}
    assert {f"tsne_barlow_twins_{b}.png" for b in techniques["backbone"]} <= figures
    assert "e2e-barlow_optuna_optimization_history.png" in figures and "training_curves.svg" in figures
    # The parent run carries the answer: the selected trial by name and number, its scores and gains, a link to
    # the decision view; the YAML's description is the experiment's.
    best = finished.sort_values(["metrics.objective", "tags.sslsweep.trial_index"]).iloc[0]
    tags, metrics = parent.data.tags, parent.data.metrics
    assert tags["sslsweep.best_run_id"] == best["run_id"] and tags["sslsweep.best_backbone"] == best["params.backbone"]
    assert tags["sslsweep.best_trial_number"] == best["tags.sslsweep.trial_number"]
    assert metrics["best/objective"] == best["metrics.objective"]
    assert metrics["gain/test/linear/acc/frac_1.0"] == pytest.approx(best["metrics.gain/test/linear/acc/frac_1.0"])
    assert f"best {best['params.backbone']} #{best['tags.sslsweep.trial_number']}" in parent.info.run_name
    note = tags["mlflow.note.content"]
    assert f"**Selected: {best['tags.mlflow.runName']}**" in note and "| linear acc, 100 % labels |" in note
    assert f"#/experiments/{parent.info.experiment_id}/runs/{best['run_id']}" in note
    # How many test units the scores are over: BasicMotions' 40 test series, one is 2.5 points.
    assert tags["sslsweep.test_unit"] == "series" and set(finished["metrics.data/test_units"]) == {40}
    assert "Test scores are over 40 test series: one is 2.5 points of accuracy." in note
    experiment = client.get_experiment(parent.info.experiment_id)
    assert experiment.tags["mlflow.note.content"].startswith("Barlow Twins")
    # The decision view: a shared view of the experiment's runs page (tests/test_ui.py opens one in a browser).
    key = f"sslsweep-{parent.info.run_id}"
    assert f"decision view:       http://127.0.0.1:5000/#/experiments/{experiment.experiment_id}/runs?" in run.stdout
    assert f"viewStateShareKey={key}" in run.stdout
    view = json.loads(experiment.tags[f"mlflow.sharedViewState.{key}"])
    assert view["selectedColumns"][:3] == [
        "params.`backbone`",
        "metrics.`objective`",
        "metrics.`test/linear/acc/frac_0.5`",
    ]
    assert view["orderByKey"] == "metrics.`objective`" and view["orderByAsc"] is True  # train/loss: lowest first

    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert {"report/index.html", "report/report.md", "report/tables", "report/figures"} <= artifacts
    assert [a.path for a in client.list_artifacts(parent.info.run_id, "best_backbone")] == ["best_backbone/backbone.pt"]

    # From the printed link, as a person opens it in MLflow's UI: the best trial in the first row, with its backbone
    # and objective; on the Models page, each model's first tag names its champion and that one's score.
    if CHROMIUM is None:
        pytest.skip("no chromium on this machine (apt-get install chromium): the UI part not checked")
    link = next(line.split(": ", 1)[1].strip() for line in run.stdout.splitlines() if line.startswith("decision view"))
    with mlflow_ui(home) as (_, port), concurrent.futures.ThreadPoolExecutor(2) as pool:  # both pages at once
        view, models = pool.map(
            page_text,
            [link.replace("http://127.0.0.1:5000/", f"http://127.0.0.1:{port}/"), f"http://127.0.0.1:{port}/#/models"],
        )
    names = [name for name in finished["tags.mlflow.runName"] if name in view]
    assert names and min(names, key=view.index) == best["tags.mlflow.runName"], view[:3000]
    first_row = view[view.index(best["tags.mlflow.runName"]) :]
    assert f"{best['params.backbone']} {float(best['metrics.objective'])!r}" in first_row, view[:3000]
    for model in client.search_registered_models():
        champion = model.tags["sslsweep.champion"]
        assert champion.startswith("v1 · test linear acc 50 % ") and "pts over untrained; train/loss " in champion
        assert f"{model.name} Version 1" in models and f"sslsweep.champion : {champion}" in models, models[:3000]


def test_collapsed_and_diverged_trials_fail_at_once_with_their_reasons_on_two_gloo_workers(tmp_path):
    """A trial that cannot train on (collapsed embeddings; weights an update blew up) ends failed on both DDP ranks
    without hanging, at once: a crash would be retried from its checkpoint (``max_failures``) and fail again."""
    home = tmp_path / "home"
    path = sweep_file(
        tmp_path,
        "e2e-collapse",
        search={"lr": {"type": "categorical", "choices": [0.001, 1.0e12]}},  # SGD at 1e12: the weights overflow
        fixed={"backbone": "conv1d", "projector_dim": 256, "batch_size": 32, "optimizer": "sgd"},
        sampler={"type": "grid"},
        budget={"trials": 2, "epochs": 3},
        resources={"workers": 2, "cpus_per_worker": 1, "gpus_per_worker": 0, "max_failures": 2},
        # An impossible floor: the health check must end the other trial, on both DDP ranks, without hanging.
        health={"collapse_std_floor": 100.0, "grace_epochs": 0},
        scheduler={"type": "fifo"},
    )
    run = run_tune(path, home)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    client, parent = sweep_parent(home, "e2e-collapse")
    assert parent.info.status == "FAILED"
    children = child_runs_frame(home, parent.info.run_id).sort_values("params.lr", key=lambda lr: lr.astype(float))
    assert children["status"].tolist() == ["FAILED", "FAILED"]
    reasons = children["tags.sslsweep.failure_reason"].tolist()
    assert reasons[0].startswith("CollapseError: embeddings collapsed at epoch 1"), reasons
    # Its one step per rank had a finite loss; the update did not, and the epoch's evaluation is what saw it.
    assert reasons[1] == "NonFiniteEmbeddingsError: the backbone embeds the evaluation data as NaN or infinite values"
    study_name = next(line.split("'")[1] for line in run.stdout.splitlines() if line.startswith("optuna"))
    study = optuna.load_study(study_name=study_name, storage=f"sqlite:///{home / 'optuna.db'}")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * 2
    assert not any(CRASHED_ATTR in t.user_attrs for t in study.trials)  # sslsweep's verdicts, not retried crashes


def test_a_trial_actor_starts_without_loading_torch():
    """Tune's actor for a trial loads the trainable's module when it starts, and Tune throws a starting actor away
    when it reuses a finished trial's (docs/measurements.md, "Where the slots went"): that module loads no torch,
    no library and no training loop; the trial's run loads them."""
    heavy = ("torch", "selfsup", "trainables.trial.launch", "trainables.trial.worker", "mlflow", "optuna")
    code = f"import sys, trainables.trial.trainable; print([m for m in {heavy!r} if m in sys.modules])"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_in_trial_and_ray_train_paths_give_the_same_trial(tmp_path):
    """One seeded configuration run in the Tune trial's process and in a one-worker Ray Train group: the
    training loop is the same function, so every epoch's loss and every final metric must agree."""
    home = tmp_path / "home"
    executions = ("in_trial", "ray_train")
    names = {execution: f"e2e-paths-{execution.replace('_', '-')}" for execution in executions}
    paths = [
        sweep_file(
            tmp_path,
            names[execution],
            search={},
            budget={"trials": 1, "epochs": 3, "checkpoint_every": 3},
            fixed={
                "backbone": "conv1d",
                "projector_dim": 256,
                "batch_size": 32,
                "lr": 0.001,
                "lambda_offdiag": 0.005,
                "aug_jitter": 0.1,
                "aug_crop_resize": 0.3,
            },
            resources={"workers": 1, "cpus_per_worker": 1, "execution": execution},
            scheduler={"type": "fifo"},
            # The label-free objective (RankMe) runs end to end here too.
            objective={"metric": "health/rankme", "mode": "max"},
        )
        for execution in executions
    ]
    run = run_in_one_driver(paths, home)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    # final.registry: false (sweep_file's default) leaves the Model Registry alone.
    assert MlflowClient(f"sqlite:///{home / 'mlflow.db'}").search_registered_models() == []
    assert "\nregistry " not in run.stdout
    histories, finals = {}, {}
    for execution in executions:
        client, parent = sweep_parent(home, names[execution])
        (child,) = [row for _, row in child_runs_frame(home, parent.info.run_id).iterrows()]
        assert child["tags.sslsweep.outcome"] == "finished"
        history = sorted(client.get_metric_history(child.run_id, "train/loss"), key=lambda m: m.step)
        histories[execution] = [m.value for m in history]
        finals[execution] = {
            key.removeprefix("metrics."): child[key]
            for key in child.index
            if key.startswith(("metrics.test/", "metrics.val/", "metrics.random_init/", "metrics.health/"))
        }
    assert len(histories["in_trial"]) == 3
    assert histories["in_trial"] == pytest.approx(histories["ray_train"], rel=1e-5)
    assert finals["in_trial"].keys() == finals["ray_train"].keys() and len(finals["in_trial"]) > 20
    for key, value in finals["in_trial"].items():
        assert value == pytest.approx(finals["ray_train"][key], rel=1e-4, abs=1e-6), key


def test_a_grid_visits_each_cell_once_and_tune_optuna_and_the_report_pick_the_same_best_among_ties(ties_sweep):
    """Eight validation series: several trials tie at the same kNN accuracy. The documented rule (best value,
    then the earliest trial; trainables/records/selection.py) must give one answer in all three places.

    The points come from sampler: grid (Optuna's GridSampler behind Ray Tune): a 2 x 2 grid in 4 trials, two at
    a time, visits each cell once, in MLflow and in the Optuna study alike (the sweep: conftest.py)."""
    from ray.tune import ExperimentAnalysis

    path, home, run = ties_sweep
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    client, parent = sweep_parent(home, "e2e-ties")
    everything = child_runs_frame(home, parent.info.run_id)
    repeats = everything[everything["tags.sslsweep.role"] == "repeat"]
    children = everything[everything["tags.sslsweep.role"] != "repeat"]
    assert len(children) == 4
    cells = sorted(zip(children["params.projector_dim"], children["params.batch_size"]))
    assert cells == [("128", "16"), ("128", "32"), ("64", "16"), ("64", "32")]
    objective = children["metrics.val/knn/acc/frac_1.0"]  # as evaluated: the tie-break is Tune's and Optuna's
    assert (objective == objective.max()).sum() >= 2, f"no tie to break: {objective.tolist()}"

    best_run_id = parent.data.tags["sslsweep.best_run_id"]
    best = children[children["run_id"] == best_run_id].iloc[0]
    tied = children[objective == objective.max()]
    assert int(best["tags.sslsweep.trial_index"]) == tied["tags.sslsweep.trial_index"].astype(int).min()

    study_name = next(line.split("'")[1] for line in run.stdout.splitlines() if line.startswith("optuna"))
    study = optuna.load_study(study_name=study_name, storage=f"sqlite:///{home / 'optuna.db'}")
    assert sorted((t.params["projector_dim"], t.params["batch_size"]) for t in study.trials) == [
        (64, 16),
        (64, 32),
        (128, 16),
        (128, 32),
    ]
    assert {t.state for t in study.trials} == {optuna.trial.TrialState.COMPLETE}
    assert study.best_trial.number == int(best["tags.sslsweep.trial_index"]) - 1
    analysis = ExperimentAnalysis(str(home / "ray_results" / study_name))
    tune_best = analysis.get_best_trial(RANKED_OBJECTIVE, "max", scope="last")
    assert tune_best.trial_id == best["tags.sslsweep.trial_id"]
    assert f"best trial {best['tags.mlflow.runName']} (run {best_run_id})" in run.stdout

    # final.repeats: the best configuration ran twice more with training seeds 1 and 2, as tagged child runs.
    assert len(repeats) == 2 and set(repeats["tags.sslsweep.repeat_of"]) == {best_run_id}
    assert sorted(repeats["tags.sslsweep.training_seed"]) == ["1", "2"]
    assert set(repeats["tags.mlflow.runName"]) == {f"{best['tags.mlflow.runName']} seed {seed}" for seed in (1, 2)}
    assert set(repeats["status"]) == {"FINISHED"}
    for key in ("params.projector_dim", "params.batch_size"):
        assert set(repeats[key]) == {best[key]}
    losses = {
        run_id: [m.value for m in client.get_metric_history(run_id, "train/loss")]
        for run_id in [best_run_id, *repeats["run_id"]]
    }
    assert len({tuple(history) for history in losses.values()}) == 3, "other seeds train differently"
    # The report's cells for that configuration average the trial and its repeats: mean, std and n = 3 seeds.
    table = pd.read_csv(home / "reports" / "e2e-ties" / "tables" / "technique_by_backbone.csv")
    assert table["SSL kNN acc 50 % n"].tolist() == [3] and table["SSL kNN acc 50 % std"].notna().all()
    assert "(n=3)" in (home / "reports" / "e2e-ties" / "tables" / "technique_by_backbone.md").read_text()


def _linear_test_accuracy(spec: dict, run: pd.Series) -> tuple[float, float]:
    """A trial's linear-probe test accuracy at 100 % labels recomputed with scikit-learn from its logged
    backbone: the probe fitted on the training series alone, and on training + validation series."""
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from selfsup.backbones import build_backbone
    from selfsup.evaluation.classification import embed_splits
    from trainables.searchspace import SweepSpec
    from trainables.trial.data_cache import data_request, prepare_requested

    sweep = SweepSpec.model_validate(spec)
    drawn = {"window_length": int(run["params.window_length"])}
    if "params.method" in run and pd.notna(run["params.method"]):  # a sweep across methods: the trial's own
        drawn["method"] = run["params.method"]
    data = prepare_requested(data_request(sweep, drawn))
    saved = torch.load(Path(run["tags.sslsweep.checkpoint_path"]) / "backbone.pt", weights_only=True)
    backbone = build_backbone(saved["backbone"], in_channels=data.n_channels)
    backbone.load_state_dict(saved["state_dict"])
    splits = embed_splits(backbone, data, torch.device("cpu"), "series")

    def accuracy(x, y) -> float:
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0, random_state=sweep.seed))
        return probe.fit(x, y).score(*splits.test)

    (train_x, train_y), (val_x, val_y) = splits.train, splits.val
    return accuracy(train_x, train_y), accuracy(np.concatenate([train_x, val_x]), np.concatenate([train_y, val_y]))


def test_a_sweep_across_methods_with_supervised_baselines(tmp_path):
    """MoCo (a momentum encoder and a queue) and SimCLR in one sweep, each with its own parameters, end to end:
    Optuna draws the method and only its parameters, each trial trains its method, MLflow tags and names it so,
    the report has a row per method and the registry a model per method. Then the supervised baseline of the best
    trial of the backbone at each label fraction: tagged child runs, never told to Optuna, never selected, in the
    report's gain table of every method. With ``evaluation.refit_on_validation`` (gestures, where accuracies have
    headroom): the test readouts are fitted on training + validation series."""
    from trainables.searchspace import METHOD_PARAM, SweepSpec
    from trainables.sweep.searcher import method_rotation

    home = tmp_path / "home"
    spec = yaml.safe_load((ROOT / "searchspaces" / "moco.yaml").read_text())
    gestures = {"source": "aeon", "name": "PickupGestureWiimoteZ"}
    spec["data"].update(pretext=gestures, downstream=gestures, series_length=64)
    temperature = {"type": "float", "low": 0.1, "high": 0.3, "log": True}
    methods = {
        "moco": {"fixed": {"queue_size": 64}, "search": {"temperature": temperature}},
        "simclr": {"search": {"temperature": temperature}},
    }
    del spec["method"]
    spec.update(
        name="e2e-methods",
        methods=methods,
        budget={"trials": 3, "epochs": 2, "max_concurrent": 2},
        scheduler={"type": "fifo"},
        search={"window_length": {"type": "categorical", "choices": [40, 50]}},
        evaluation={
            "protocols": ["linear"],
            "label_fractions": [0.5, 1.0],
            "unit": "series",
            "supervised_baseline": True,
            "refit_on_validation": True,
        },
        final={"registry": True},
    )
    path = tmp_path / "methods.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    run = run_tune(path, home)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    # The baselines ran as exact points without Tune's warnings about them (a point differing from the space, a
    # concurrency it ignores).
    assert "Pre-set value" not in run.stderr + run.stdout and "max_concurrent_trials" not in run.stderr + run.stdout
    client, parent = sweep_parent(home, "e2e-methods")
    assert parent.data.tags["sslsweep.method"] == "moco, simclr"
    children = child_runs_frame(home, parent.info.run_id)
    trials = children[children["tags.sslsweep.role"] == "trial"]
    baselines = children[children["tags.sslsweep.role"] == "supervised_baseline"]
    assert len(trials) == 3 and set(trials["tags.sslsweep.method"]) <= set(methods)
    # Each trial ran its drawn method with that method's parameters only, named and tagged after it.
    for _, trial in trials.iterrows():
        method = trial[f"params.{METHOD_PARAM}"]
        assert trial["tags.sslsweep.method"] == method and trial["tags.mlflow.runName"].startswith(f"{method} ")
        assert (trial["params.queue_size"] == "64") if method == "moco" else pd.isna(trial.get("params.queue_size"))
        assert pd.notna(trial["params.temperature"])
    study_name = next(line.split("'")[1] for line in run.stdout.splitlines() if line.startswith("optuna"))
    study = optuna.load_study(study_name=study_name, storage=f"sqlite:///{home / 'optuna.db'}")
    assert len(study.trials) == 3  # the baselines are not told to Optuna
    # TPE's start-up trials took each method in turn, in the seeded order the dry run lists.
    rotation = method_rotation(list(methods), SweepSpec.model_validate(spec).sampler, spec["seed"], 3)
    assert [trial.params[METHOD_PARAM] for trial in study.trials] == [point[METHOD_PARAM] for point in rotation]
    for trial in study.trials:
        assert set(trial.params) == {METHOD_PARAM, "window_length", "temperature"}, trial.params

    best_run_id = parent.data.tags["sslsweep.best_run_id"]
    assert best_run_id in set(trials["run_id"])
    assert sorted(baselines["params.label_fraction"].astype(float)) == [0.5, 1.0]  # once for the one backbone
    assert set(baselines["tags.sslsweep.baseline_of"]) == {best_run_id}
    assert set(baselines["tags.sslsweep.method"]) == {"supervised"} and set(baselines["status"]) == {"FINISHED"}
    best = trials[trials["run_id"] == best_run_id].iloc[0]
    assert set(baselines["params.lr"]) == {best["params.lr"]}  # the best trial's optimiser settings
    assert "params.queue_size" not in baselines or baselines["params.queue_size"].isna().all()
    # Data is prepared once per distinct searched window length; the baselines reuse their trial's.
    assert set(baselines["params.window_length"]) == {best["params.window_length"]}
    assert parent.data.metrics["sweep/data_preparations"] == trials["params.window_length"].nunique()

    # The report: a row per method (each with the baselines of its backbone), the registry a model per method.
    finished = set(trials[trials["tags.sslsweep.outcome"] == "finished"][f"params.{METHOD_PARAM}"])
    techniques = pd.read_csv(home / "reports" / "e2e-methods" / "tables" / "technique_by_backbone.csv")
    assert set(techniques["method"]) == finished
    assert {model.name for model in client.search_registered_models()} == {
        f"sslsweep-{method}-conv1d-PickupGestureWiimoteZ" for method in finished
    }
    comparison = pd.read_csv(home / "reports" / "e2e-methods" / "tables" / "ssl_vs_supervised.csv")
    comparison = comparison[comparison["method"] == best[f"params.{METHOD_PARAM}"]]
    assert comparison["labels"].tolist() == ["50 %", "100 %"] and comparison["supervised acc"].notna().all()
    for _, row in comparison.iterrows():
        fraction = 0.5 if row["labels"] == "50 %" else 1.0
        baseline = baselines[baselines["params.label_fraction"].astype(float) == fraction].iloc[0]
        assert row["supervised acc"] == pytest.approx(baseline[f"metrics.test/linear/acc/frac_{fraction}"])
        assert row["SSL acc"] == pytest.approx(best[f"metrics.test/linear/acc/frac_{fraction}"])
    assert (
        "Test readouts fitted on training + validation units"
        in (home / "reports" / "e2e-methods" / "tables" / "ssl_vs_supervised.md").read_text()
    )
    train_only, refitted = _linear_test_accuracy(spec, best)
    print(f"best trial's test accuracy: probe on training series {train_only}, on training + validation {refitted}")
    assert best["metrics.test/linear/acc/frac_1.0"] == pytest.approx(refitted)
