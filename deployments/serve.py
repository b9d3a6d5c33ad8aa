"""`yotqa serve`: a local Prefect server (when none is configured) and every deployment served.

The server runs as a child process with its state under var/prefect/ and its output in
var/prefect-server.log, so the terminal shows only what an admin needs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from models.errors import ConfigError
from models.settings import get_settings

SERVER_START_TIMEOUT = 90


def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:  # noqa: S310 (loopback URL)
            return response.status == 200
    except OSError:
        return False


@contextmanager
def local_server(host: str, port: int) -> Iterator[str]:
    """Start `prefect server start` unless PREFECT_API_URL names a server; yield the API URL."""
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        if not _healthy(configured):
            raise ConfigError(
                f"PREFECT_API_URL={configured} does not answer at /health: start that server first"
            )
        yield configured
        return
    api_url = f"http://{host}:{port}/api"
    if _healthy(api_url):
        raise ConfigError(f"something already answers on {host}:{port}: stop it, or choose --port")
    var = get_settings().output_dir
    home = var / "prefect"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_API_HOST": host,
        "PREFECT_SERVER_API_PORT": str(port),
    }
    log_path = var / "prefect-server.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "prefect"),
                "server",
                "start",
                "--host",
                host,
                "--port",
                str(port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not _healthy(api_url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise ConfigError(f"the Prefect server did not start: see {log_path}")
            time.sleep(0.5)
        os.environ["PREFECT_API_URL"] = api_url
        yield api_url
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def trigger_when_ready(
    deployment: str, parameters: dict[str, object], announce: Callable[[str], None]
) -> None:
    """Once `serve` has registered the deployment, start one run of it (in a background thread)."""

    def worker() -> None:
        from prefect.deployments import run_deployment

        for _ in range(120):
            try:
                run = run_deployment(deployment, parameters=parameters, timeout=0)
                announce(f"Started {deployment} for {parameters}: flow run {run.name}")
                return
            except Exception:  # noqa: BLE001  (not registered yet: try again shortly)
                time.sleep(1)
        announce(f"Could not start {deployment}: it was never registered")

    threading.Thread(target=worker, daemon=True).start()


def serve_all(start: date, announce: Callable[[str], None], trigger_sample: bool) -> None:
    """Serve every deployment until interrupted (Ctrl+C); deployments stay unpaused on exit."""
    from prefect import serve

    from deployments.build import build_deployments

    deployments = build_deployments(start)
    if trigger_sample:
        trigger_when_ready(
            "sample-and-assign/sample-and-assign", {"as_of": start.isoformat()}, announce
        )
    serve(*deployments, pause_on_shutdown=False, print_starting_message=False)
