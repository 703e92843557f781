"""How long ``python tune.py report`` takes over three real sweeps, t-SNE and Optuna views included.

    python benchmarks/report_build.py [--home DIR] [--sweeps compare-barlow_twins compare-vicreg compare-cpc]
                                      [--repeats 3]

Times the whole command (a new Python process: imports, reading MLflow, every table and figure, the HTML page,
the MLflow run of its own) ``--repeats`` times over the sweeps in ``DIR`` (an SSLSWEEP_HOME). Where DIR holds
none of them, they are first made with ``method_comparison.py`` on PickupGestureWiimoteZ (4 trials x 6 epochs
each, labels at 5/10/25/50/100 %; a few minutes on 2 cores), which is not timed. Prints figures; nothing is
asserted. Target (issue 13): under 60 s on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METHODS = ["barlow_twins", "vicreg", "cpc"]


def make_sweeps(home: Path, methods: list[str]) -> None:
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "method_comparison.py"),
            "--methods",
            *methods,
            "--trials",
            "4",
            "--epochs",
            "6",
            "--fractions",
            "0.05",
            "0.1",
            "0.25",
            "0.5",
            "1.0",
            "--home",
            str(home),
        ],
        check=True,
        cwd=ROOT,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, help="an SSLSWEEP_HOME holding the sweeps (default: a new one)")
    parser.add_argument("--sweeps", nargs="+", default=[f"compare-{m}" for m in METHODS])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        home = (args.home or Path(scratch)).resolve()
        if not (home / "mlflow.db").exists():
            make_sweeps(home, [name.removeprefix("compare-") for name in args.sweeps])
        env = {**os.environ, "SSLSWEEP_HOME": str(home), "SSLSWEEP_REPORTS_DIR": str(Path(scratch) / "reports")}
        env.pop("MLFLOW_TRACKING_URI", None)
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            run = subprocess.run(
                [sys.executable, "tune.py", "report", *args.sweeps, "--name", "benchmark"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
            )
            seconds.append(time.perf_counter() - start)
            if run.returncode != 0:
                sys.exit(f"tune.py report failed:\n{run.stderr[-3000:]}")
        print(run.stdout)
        print(
            f"tune.py report over {len(args.sweeps)} sweeps ({', '.join(args.sweeps)}): "
            f"median {statistics.median(seconds):.1f} s of {args.repeats} runs "
            f"({', '.join(f'{s:.1f}' for s in seconds)}) on {os.cpu_count()} CPU cores; target < 60 s"
        )


if __name__ == "__main__":
    main()
