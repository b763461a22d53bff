"""Dagster's own processes (webserver, daemon, `dagster dev`) on a workspace, for tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LOCATIONS = Path(__file__).resolve().parent / "locations"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def new_dagster_home(path: Path) -> Path:
    """A fresh DAGSTER_HOME, its storage created once, before processes race to create it."""
    from dagster import DagsterInstance

    path.mkdir(parents=True)
    (path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    DagsterInstance.from_config(str(path)).dispose()
    return path


def write_workspace(path: Path, locations: Sequence[str]) -> Path:
    """A workspace file of `tests/support/locations/<name>.py` code locations, in this order."""
    entries = "".join(
        f"  - python_file:\n"
        f"      relative_path: {LOCATIONS / f'{name}.py'}\n"
        f"      working_directory: {ROOT}\n"
        f"      location_name: {name}\n"
        for name in locations
    )
    path.write_text(f"load_from:\n{entries}")
    return path


@contextmanager
def running(command: list[str], cwd: Path, env: Mapping[str, str], log: Path) -> Iterator[None]:
    """`command` in its own process group, stopped with every child it spawned."""
    with log.open("w") as out:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def loaded_locations(port: int) -> dict[str, str | None]:
    """Each code location the webserver on `port` serves, and whether it loaded (its type name)."""
    query = b'{"query": "{ workspaceOrError { ... on Workspace { locationEntries { name '
    query += b'locationOrLoadError { __typename } } } } }"}'
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=query, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (loopback)
            entries = json.load(response)["data"]["workspaceOrError"]["locationEntries"]
    except (OSError, KeyError, ValueError):
        return {}
    return {e["name"]: (e["locationOrLoadError"] or {}).get("__typename") for e in entries}


def wait_for_locations(port: int, names: Sequence[str], log: Path, seconds: float = 150) -> None:
    deadline = time.monotonic() + seconds
    wanted = dict.fromkeys(names, "RepositoryLocation")
    while loaded_locations(port) != wanted:
        if time.monotonic() > deadline:
            raise AssertionError(f"the webserver never served {list(names)}:\n{log.read_text()}")
        time.sleep(1)
