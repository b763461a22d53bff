"""The real `dagster-daemon` ticks the sensor of the example code location."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance

from tests.support.backend import LineageBackend
from tests.support.schemas import OpenLineageSchemas

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BIN = Path(sys.executable).parent
DEADLINE_SECONDS = 150


@pytest.fixture
def daemon_home(tmp_path: Path, backend: LineageBackend) -> Iterator[tuple[Path, dict[str, str]]]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    # Create the storage once, before two processes (daemon, launcher) race to create it.
    DagsterInstance.from_config(str(home)).dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINEAGE")} | {
        "DAGSTER_HOME": str(home),
        "OPENLINEAGE_URL": backend.url,
        "OL_DAGSTER_EXAMPLE_SENSOR_INTERVAL": "5",
    }
    log = (tmp_path / "daemon.log").open("w")
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", str(EXAMPLES / "workspace.yaml")],
        cwd=EXAMPLES,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped with every child it spawned
    )
    try:
        yield home, env
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
        log.close()


def _launch(env: dict[str, str], job: str) -> None:
    done = subprocess.run(
        [str(BIN / "dagster"), "job", "launch", "-w", str(EXAMPLES / "workspace.yaml"), "-j", job],
        cwd=EXAMPLES,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _wait_for(backend: LineageBackend, wanted: set[tuple[str, str]]) -> set[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        seen = {(e["eventType"], e["job"]["name"]) for e in backend.received if "job" in e}
        if wanted <= seen:
            return seen
        time.sleep(1)
    raise AssertionError(f"after {DEADLINE_SECONDS} s, still missing {sorted(wanted - seen)}")


def test_runs_launched_on_a_real_daemon_reach_the_backend(
    daemon_home: tuple[Path, dict[str, str]], backend: LineageBackend, schemas: OpenLineageSchemas
) -> None:
    _, env = daemon_home
    _launch(env, "daily_orders")
    _launch(env, "customers_job")
    _wait_for(
        backend,
        {
            ("START", "daily_orders"),
            ("COMPLETE", "daily_orders.keep_valid"),
            ("COMPLETE", "daily_orders"),
            ("RUNNING", "customers_job.customers"),
            ("COMPLETE", "customers_job"),
        },
    )
    for event in backend.received:
        schemas.validate_event(event)
    # launched from a code location: its name is the namespace of the runs
    assert {e["job"]["namespace"] for e in backend.received} == {"ol_dagster_example"}
    [customers] = [
        e
        for e in backend.received
        if e["eventType"] == "RUNNING" and e["job"]["name"] == "customers_job.customers"
    ]
    assert [(d["namespace"], d["name"]) for d in customers["inputs"]] == [
        ("s3://example-lake", "raw/customers.parquet")
    ]
    # the doctor reads the cursor the daemon stored for the sensor
    doctor = subprocess.run(
        [str(BIN / "ol-dagster"), "doctor"], env=env, capture_output=True, text=True, timeout=120
    )
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "accepts connections" in doctor.stdout
    assert re.search(r"cursor +0 runs open, [0-9,]+ bytes, 0 storage ids behind", doctor.stdout), (
        doctor.stdout
    )
