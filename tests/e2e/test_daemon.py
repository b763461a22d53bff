"""The real `dagster-daemon` ticks the sensor of the example code location."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.backend import LineageBackend
from tests.support.dagster_processes import (
    BIN,
    ROOT,
    free_port,
    new_dagster_home,
    running,
    wait_for_locations,
)
from tests.support.schemas import OpenLineageSchemas

EXAMPLES = ROOT / "examples"
DEADLINE_SECONDS = 150


@contextmanager
def _running(
    command: list[str], cwd: Path, tmp_path: Path, backend: LineageBackend
) -> Iterator[tuple[Path, dict[str, str]]]:
    """`command` (a Dagster process serving the example workspace) on a fresh DAGSTER_HOME."""
    home = new_dagster_home(tmp_path / "dagster_home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINEAGE")} | {
        "DAGSTER_HOME": str(home),
        "OPENLINEAGE_URL": backend.url,
        "OL_DAGSTER_EXAMPLE_SENSOR_INTERVAL": "5",
    }
    with running(command, cwd, env, tmp_path / "dagster.log"):
        yield home, env


@pytest.fixture
def daemon_home(tmp_path: Path, backend: LineageBackend) -> Iterator[tuple[Path, dict[str, str]]]:
    command = [str(BIN / "dagster-daemon"), "run", "-w", str(EXAMPLES / "workspace.yaml")]
    with _running(command, EXAMPLES, tmp_path, backend) as started:
        yield started


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
    assert "accepts events" in doctor.stdout
    assert re.search(r"cursor +0 runs open, [0-9,]+ bytes, 0 storage ids behind", doctor.stdout), (
        doctor.stdout
    )


def test_the_readme_dagster_dev_command_serves_the_example_and_sends_lineage(
    tmp_path: Path, backend: LineageBackend, schemas: OpenLineageSchemas
) -> None:
    """`OPENLINEAGE_URL=... dagster dev -w examples/workspace.yaml`, from the repository root."""
    port = free_port()
    command = [str(BIN / "dagster"), "dev", "-w", "examples/workspace.yaml", "-p", str(port)]
    with _running(command, ROOT, tmp_path, backend) as (_, env):
        wait_for_locations(port, ["ol_dagster_example"], tmp_path / "dagster.log")
        _launch(env, "customers_job")
        _wait_for(backend, {("START", "customers_job"), ("COMPLETE", "customers_job")})
    for event in backend.received:
        schemas.validate_event(event)
