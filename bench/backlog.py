"""One Dagster instance per storage, each holding a backlog of finished runs.

The instances are the test suite's (`tests.support.dagster_env`): a dagster.yaml in a temporary
home, and for PostgreSQL a fresh database dropped afterwards. The runs are executed by child
processes (`bench.workload`) that open the same home, two at a time since the machine may have
only two cores; the measuring process only reads.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterInstance
from tests.support.dagster_env import (
    POSTGRES_HOST,
    POSTGRES_PORT,
    _postgres_available,  # the same check the tests skip on
    dagster_instance,
)

from bench.backend_process import ROOT

STORAGE_NAMES = {
    "sqlite_sharded": "sharded SQLite (Dagster's default)",
    "sqlite_consolidated": "consolidated SQLite",
    "postgres": "PostgreSQL",
}
BUILDERS_AT_ONCE = 2


@dataclass(slots=True)
class Backlog:
    storage: str
    home: Path
    instance: DagsterInstance
    build_seconds: float = 0.0
    runs: int = 0
    all_records: int = 0
    """Every record of the event log, whatever its type."""

    @property
    def name(self) -> str:
        return STORAGE_NAMES[self.storage]


def usable_storages(wanted: Sequence[str]) -> list[str]:
    """`wanted`, without PostgreSQL (and a printed note) when its server is unreachable."""
    if "postgres" in wanted and not _postgres_available():
        print(f"note: PostgreSQL not reachable at {POSTGRES_HOST}:{POSTGRES_PORT}; skipped")
        return [s for s in wanted if s != "postgres"]
    return list(wanted)


@contextmanager
def instances(storages: Sequence[str]) -> Iterator[list[Backlog]]:
    """An empty instance per storage; temporary homes and databases are removed on exit."""
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ol-dagster-bench-")))
        backlogs = []
        for storage in storages:
            home = root / storage
            instance = stack.enter_context(dagster_instance(storage, home))
            backlogs.append(Backlog(storage, home, instance))
        yield backlogs


def workload_command(
    home: Path, runs: int, asset_runs: int, seconds: float, stop_file: Path | None = None
) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "bench.workload",
        f"--home={home}",
        f"--runs={runs}",
        f"--asset-runs={asset_runs}",
        f"--seconds={seconds}",
    ]
    return command + ([f"--stop-file={stop_file}"] if stop_file is not None else [])


@contextmanager
def child(command: list[str]) -> Iterator[subprocess.Popen[str]]:
    """A child process that is killed if still running when the block exits, error or not."""
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def build(backlogs: Sequence[Backlog], runs: int, asset_runs: int, timeout: float) -> None:
    """Executes the runs in every instance, BUILDERS_AT_ONCE instances at a time."""
    # The slowest storage first, so that the others are built while it runs.
    queue = sorted(backlogs, key=lambda b: b.storage != "postgres")
    with ExitStack() as stack:
        running: dict[str, tuple[Backlog, subprocess.Popen[str]]] = {}
        while queue or running:
            while queue and len(running) < BUILDERS_AT_ONCE:
                backlog = queue.pop(0)
                command = workload_command(backlog.home, runs, asset_runs, timeout)
                running[backlog.storage] = (backlog, stack.enter_context(child(command)))
            time.sleep(0.2)
            for storage, (backlog, process) in list(running.items()):
                if process.poll() is not None:
                    del running[storage]
                    _finish(backlog, process)


def _finish(backlog: Backlog, process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    output = process.stdout.read().strip().splitlines()
    if process.returncode != 0 or not output:
        raise RuntimeError(f"building the {backlog.name} backlog failed ({process.returncode})")
    summary = json.loads(output[-1])
    backlog.runs, backlog.build_seconds = int(summary["runs"]), float(summary["seconds"])
    backlog.all_records = count_all_records(backlog.instance)


def count_all_records(instance: DagsterInstance) -> int:
    return sum(len(instance.all_logs(run_id)) for run_id in instance.get_run_ids())
