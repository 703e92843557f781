"""The MLflow UI as a person opens it: ``tune.py ui`` started on a free loopback port over an SSLSWEEP_HOME
(``mlflow_ui``, stopped with the processes it started and nothing else), and a page as headless Chromium renders
it, reduced to its visible text (``page_text``)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@contextlib.contextmanager
def mlflow_ui(home: Path) -> Iterator[tuple[subprocess.Popen, int]]:
    """``python tune.py ui`` over ``home``'s store, listening; yields the process (its output piped) and the port."""
    port = free_port()
    env = {**os.environ, "SSLSWEEP_HOME": str(home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    # A session of its own, so the test stops the UI and the server processes it started, and nothing else.
    server = subprocess.Popen(
        [sys.executable, "tune.py", "ui", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for_port(port, server, "tune.py ui")
        yield server, port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def page_text(url: str) -> str:
    """The visible text of ``url`` once MLflow's page has rendered (a wide window: the runs table draws only the
    columns in view), whitespace collapsed. A profile of its own, so that pages can be read at once."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        page = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                f"--user-data-dir={profile}",
                "--window-size=1920,1080",
                "--virtual-time-budget=20000",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=180,
        ).stdout
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<style[^>]*>.*?</style>", " ", page, flags=re.S)))
