"""Training throughput of every method against the bare backbone, in one process (no Ray).

    python benchmarks/method_throughput.py [--batch 64] [--steps 20] [--backbones conv1d gru] [--device cpu]

Per method and backbone: windows per second of a full training step (augmentation of the views, backbone,
projector and heads, target networks, loss, backward, optimiser step, after-step hooks) on batches of B
windows, beside the bare backbone's forward + backward + step on the 2B windows that two views make (a
mean of the features as the loss): the ratio says what the method itself costs on top of the encoder. A
method below 0.5 needs a reason (BYOL and MoCo run a second, momentum encoder over the views without
gradients; TNC encodes 1 + 2 x mc_sample_size windows per anchor; CPC runs its GRU context over the latent
sequence). Windows are BasicMotions-shaped (6 channels x 50 steps), cut from 200-step series (TNC draws its
neighbours there). It prints figures; nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "ssl"))

from selfsup.augmentations import TimeSeriesAugmenter  # noqa: E402
from selfsup.backbones import build_backbone  # noqa: E402
from selfsup.data.timeseries.series import SeriesSet  # noqa: E402
from selfsup.data.timeseries.sliding_windows import sliding_windows  # noqa: E402
from selfsup.methods import METHODS, DataShape, PretextBatch, ProjectorSpec  # noqa: E402

CHANNELS, LENGTH, CLASSES = 6, 50, 4
# Settings that fit one batch of B windows (MoCo's queue, W-MSE's whitening block and its narrow embedding).
PARAMS = {"moco": {"queue_size": 256}, "wmse": {"w_size": 32}}
PROJECTOR = {"wmse": ProjectorSpec(16, 2, 256)}


def _time_steps(step, steps: int, device: torch.device) -> float:
    for _ in range(3):  # warm-up: allocator, kernels
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def backbone_step_seconds(name: str, batch: int, steps: int, device: torch.device) -> float:
    torch.manual_seed(0)
    backbone = build_backbone(name, CHANNELS).to(device)
    optimizer = torch.optim.AdamW(backbone.parameters(), lr=1e-3)
    x = torch.randn(2 * batch, CHANNELS, LENGTH, device=device)

    def step():
        loss = backbone(x).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return _time_steps(step, steps, device)


def method_step_seconds(method: str, backbone: str, batch: int, steps: int, device: torch.device) -> float:
    torch.manual_seed(0)
    cls = METHODS.get(method)
    model = cls(
        build_backbone(backbone, CHANNELS),
        PROJECTOR.get(method, ProjectorSpec(256, 2)),
        cls.Params(**PARAMS.get(method, {})),
        DataShape(CHANNELS, LENGTH, CLASSES),
    ).to(device)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    augmenter = TimeSeriesAugmenter({"jitter": 0.1, "scaling": 0.1, "time_warp": 0.2, "crop_resize": 0.3}, seed=0)
    series = list(torch.randn(batch, CHANNELS, 4 * LENGTH).numpy())
    windows = sliding_windows(SeriesSet(series, None), LENGTH, 0.5, "random")
    index = torch.randperm(len(windows))[:batch]
    x = torch.as_tensor(windows.x[index.numpy()], device=device)
    labels = torch.randint(0, CLASSES, (batch,), device=device) if cls.uses_labels else None

    def step():
        output = model(PretextBatch(x, augmenter.views, labels, index.to(device), windows))
        optimizer.zero_grad(set_to_none=True)
        output.loss.backward()
        optimizer.step()
        model.after_optimizer_step(0.5)

    return _time_steps(step, steps, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--backbones", nargs="+", default=["conv1d", "gru"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"device {device}, torch threads {torch.get_num_threads()}, batch B={args.batch}, {args.steps} timed steps")
    print(f"{'backbone':<8} {'method':<20} {'windows/s':>10} {'backbone-only on 2B':>20} {'ratio':>6}")
    for backbone in args.backbones:
        reference = args.batch / backbone_step_seconds(backbone, args.batch, args.steps, device)
        for method in METHODS.names():
            rate = args.batch / method_step_seconds(method, backbone, args.batch, args.steps, device)
            print(f"{backbone:<8} {method:<20} {rate:10.0f} {reference:20.0f} {rate / reference:6.2f}", flush=True)
    print("(backbone-only: B windows/s when every window is encoded twice, as two views are; ratio = method / that)")


if __name__ == "__main__":
    main()
