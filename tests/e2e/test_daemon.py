"""The real `dagster-daemon` ticks the sensor of the example code location."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dagster import DagsterInstance

from tests.support.backend import LineageBackend
from tests.support.schemas import OpenLineageSchemas

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
BIN = Path(sys.executable).parent
DEADLINE_SECONDS = 150


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _running(
    command: list[str], cwd: Path, tmp_path: Path, backend: LineageBackend
) -> Iterator[tuple[Path, dict[str, str]]]:
    """`command` (a Dagster process serving the example workspace) on a fresh DAGSTER_HOME."""
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
    log = (tmp_path / "dagster.log").open("w")
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped with every child it spawned
    )
    try:
        yield home, env
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


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
    assert "accepts connections" in doctor.stdout
    assert re.search(r"cursor +0 runs open, [0-9,]+ bytes, 0 storage ids behind", doctor.stdout), (
        doctor.stdout
    )


def _location_loaded(port: int) -> bool:
    query = b'{"query": "{ workspaceOrError { ... on Workspace { locationEntries { name '
    query += b'locationOrLoadError { __typename } } } } }"}'
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=query, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (loopback)
            entries = json.load(response)["data"]["workspaceOrError"]["locationEntries"]
    except (OSError, KeyError, ValueError):
        return False
    return [(e["name"], (e["locationOrLoadError"] or {}).get("__typename")) for e in entries] == [
        ("ol_dagster_example", "RepositoryLocation")
    ]


def test_the_readme_dagster_dev_command_serves_the_example_and_sends_lineage(
    tmp_path: Path, backend: LineageBackend, schemas: OpenLineageSchemas
) -> None:
    """`OPENLINEAGE_URL=... dagster dev -w examples/workspace.yaml`, from the repository root."""
    port = _free_port()
    command = [str(BIN / "dagster"), "dev", "-w", "examples/workspace.yaml", "-p", str(port)]
    with _running(command, ROOT, tmp_path, backend) as (_, env):
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not _location_loaded(port):
            log = (tmp_path / "dagster.log").read_text()
            assert time.monotonic() < deadline, f"the webserver never served the example:\n{log}"
            time.sleep(1)
        _launch(env, "customers_job")
        _wait_for(backend, {("START", "customers_job"), ("COMPLETE", "customers_job")})
    for event in backend.received:
        schemas.validate_event(event)
