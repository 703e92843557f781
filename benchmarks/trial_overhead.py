"""How much of one trial is Ray/Train start-up, and how much is training and evaluation?

    python benchmarks/trial_overhead.py [searchspaces/barlow.yaml] [--epochs N]

Runs the same configuration (the search space's first choice / lower bound of every dimension) twice:
1. in-process, timing data preparation, training epochs and the downstream evaluation;
2. as a real one-trial sweep through Ray Tune + TorchTrainer + MLflow (a temporary SSLSWEEP_HOME),
   timing the whole trial and reading the worker-side time from Tune's result.
It prints the figures; nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def first_point(spec) -> dict:
    point = {}
    for key, dimension in spec.search.items():
        point[key] = dimension.choices[0] if dimension.type == "categorical" else (
            int(dimension.low) if dimension.type == "int" else dimension.low)
    return point


def in_process(spec, params: dict) -> dict[str, float]:
    from selfsup.config import split_trial_params
    from selfsup.data.prepare import prepare_data
    from selfsup.pretrain import build_augmenter, build_method, build_optimizer, evaluate_backbone, train_one_epoch

    timings = {}
    start = time.perf_counter()
    data = prepare_data(spec.data.pretext, spec.data.downstream, spec.data.window.length, spec.data.window.overlap,
                        spec.data.validation_fraction, spec.seed)
    timings["data"] = time.perf_counter() - start
    shared, own = split_trial_params(spec.method, params)
    torch.manual_seed(spec.seed)
    model = build_method(spec, shared, own, data.n_channels)
    optimizer, augmenter = build_optimizer(shared, model), build_augmenter(shared, spec.seed)
    batch = max(2, min(shared.batch_size, len(data.pretext.x)))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.as_tensor(data.pretext.x)),
                                         batch_size=batch, shuffle=True, drop_last=True)
    start = time.perf_counter()
    for epoch in range(spec.budget.epochs):
        train_one_epoch(model, loader, augmenter, optimizer, torch.device("cpu"), epoch, spec.budget.epochs)
    timings["training"] = time.perf_counter() - start
    start = time.perf_counter()
    evaluate_backbone(model.backbone, data, spec, torch.device("cpu"), include_test=True)
    timings["final evaluation"] = time.perf_counter() - start
    timings["windows/s (training)"] = len(data.pretext.x) * spec.budget.epochs / timings["training"]
    return timings


def through_ray(spec_path: Path, spec, params: dict) -> dict[str, float]:
    import yaml

    raw = yaml.safe_load(spec_path.read_text())
    raw["name"] = f"{spec.name}-overhead"
    raw["search"] = {}
    raw["fixed"] = {**raw.get("fixed", {}), **params}
    raw["budget"] = {**raw.get("budget", {}), "trials": 1, "epochs": spec.budget.epochs}
    raw["scheduler"] = {"type": "fifo"}
    with tempfile.TemporaryDirectory() as home:
        path = Path(home) / "one_trial.yaml"
        path.write_text(yaml.safe_dump(raw))
        os.environ.update(SSLSWEEP_HOME=home, SSLSWEEP_REPORTS_DIR=str(Path(home) / "reports"))
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        import ray

        from selfsup.config import load_sweep
        from trainables.stores import resolve_stores
        from trainables.sweep import run_sweep

        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        start = time.perf_counter()
        run_sweep(load_sweep(path), path, resolve_stores())
        elapsed = time.perf_counter() - start
        ray.shutdown()
        results = [json.loads(line) for line in next(Path(home).glob("ray_results/*/run_trial_*/result.json")).open()]
    iterations = [r["time_this_iter_s"] for r in results]
    return {"whole sweep": elapsed,
            "outside the trial (MLflow, Optuna, Tune set-up, report)": elapsed - results[-1]["time_total_s"],
            "trial start-up + first epoch": iterations[0],
            "later epochs, mean": sum(iterations[1:-1]) / max(len(iterations) - 2, 1),
            "last epoch + final evaluation": iterations[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("searchspace", nargs="?", type=Path, default=ROOT / "searchspaces" / "barlow.yaml")
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args()

    from selfsup.config import load_sweep

    spec = load_sweep(args.searchspace)
    if args.epochs:
        spec = spec.model_copy(update={"budget": spec.budget.model_copy(update={"epochs": args.epochs})})
    params = first_point(spec)
    print(f"configuration: {params}, {spec.budget.epochs} epochs, torch threads {torch.get_num_threads()}")
    timings = in_process(spec, params)
    work = timings["data"] + timings["training"] + timings["final evaluation"]
    for name, value in timings.items():
        print(f"  in-process {name:<22} {value:8.2f}" + ("" if "/s" in name else " s"))
    ray_timings = through_ray(args.searchspace, spec, params)
    print("one sweep of one trial through Ray Tune + TorchTrainer + MLflow:")
    for name, value in ray_timings.items():
        print(f"  {name:<56} {value:8.2f} s")
    total = ray_timings["whole sweep"]
    print(f"orchestration overhead (sweep minus in-process work): {total - work:.2f} s "
          f"({100 * (total - work) / total:.0f} % of the sweep)")


if __name__ == "__main__":
    main()
