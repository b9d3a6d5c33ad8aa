"""`yotqa serve` (what `make run` ends with), run as an admin would: a real server, then Ctrl+C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.smtp import free_port
from tests.test_flows import DEPLOYMENTS

ROOT = Path(__file__).resolve().parent.parent


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
            return response.status
    except OSError:
        return 0


def test_serve_starts_prefect_runs_the_sample_and_stops_cleanly(
    cli, tmp_path: Path, db_url: str
) -> None:
    assert cli("demo-data", "--as-of", "2026-11-25").exit_code == 0
    port = free_port()
    var = tmp_path / "serve-var"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(YOTQA_DATABASE_URL=db_url, YOTQA_OUTPUT_DIR=str(var), DO_NOT_TRACK="1")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "yotqa"), "serve", "--port", str(port), "--run-sample"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not list((var / "outbox").glob("*.eml")) and time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read()  # type: ignore[union-attr]
            time.sleep(1)
        assert list((var / "outbox").glob("*assignment.eml")), "the first sample sent no email"
        assert _get(f"http://127.0.0.1:{port}/api/health") == 200
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/deployments/filter",
            data=b"{}",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            names = {d["name"] for d in __import__("json").load(response)}
        assert names == DEPLOYMENTS
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert f"Prefect UI: http://127.0.0.1:{port}" in output
    assert "Traceback" not in output
    assert _get(f"http://127.0.0.1:{port}/api/health") == 0  # the server stopped with it
