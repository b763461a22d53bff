"""A slow backend, then one that hangs, under the real `dagster-daemon`: no tick times out.

Dagster ends a sensor evaluation after DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS (60 by default),
and ol-dagster's tick budget is 30 s by default. This test keeps that ratio at a fifth of the
time (a 6 s budget under a 12 s timeout) so that it runs in under a minute. At the defaults:
`OL_DAGSTER_TEST_TICK_BUDGET=30 OL_DAGSTER_TEST_SENSOR_TIMEOUT=60 pytest -s <this file>`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance
from dagster._core.scheduler.instigation import TickStatus

from tests.e2e.test_daemon import EXAMPLES, _launch
from tests.support.backend import LineageBackend
from tests.support.dagster_processes import BIN, new_dagster_home, running
from tests.support.schemas import OpenLineageSchemas

BUDGET_SECONDS = float(os.environ.get("OL_DAGSTER_TEST_TICK_BUDGET", "6"))
DAGSTER_TIMEOUT_SECONDS = int(os.environ.get("OL_DAGSTER_TEST_SENSOR_TIMEOUT", "12"))
ANSWER_SECONDS = 2.5
"""How long the slow backend takes to answer each request."""


@pytest.fixture
def daemon(tmp_path: Path, backend: LineageBackend) -> Iterator[tuple[Path, dict[str, str]]]:
    home = new_dagster_home(tmp_path / "dagster_home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINEAGE")} | {
        "DAGSTER_HOME": str(home),
        "OPENLINEAGE_URL": backend.url,
        "OL_DAGSTER_EXAMPLE_SENSOR_INTERVAL": "2",
        "OL_DAGSTER_TICK_BUDGET_SECONDS": str(BUDGET_SECONDS),
        "DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS": str(DAGSTER_TIMEOUT_SECONDS),
    }
    command = [str(BIN / "dagster-daemon"), "run", "-w", str(EXAMPLES / "workspace.yaml")]
    with running(command, EXAMPLES, env, tmp_path / "daemon.log"):
        yield home, env


def _wait(condition: str, test: object, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not test():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"after {seconds} s, still not: {condition}"
        time.sleep(0.5)


def _jobs(backend: LineageBackend) -> set[tuple[str, str]]:
    return {(e["eventType"], e["job"]["name"]) for e in backend.received if "job" in e}


def test_no_tick_times_out_behind_a_slow_then_hanging_backend(
    daemon: tuple[Path, dict[str, str]], backend: LineageBackend, schemas: OpenLineageSchemas
) -> None:
    home, env = daemon
    backend.delay = ANSWER_SECONDS
    _launch(env, "daily_orders")
    _launch(env, "customers_job")
    # slow: a few events a tick arrive
    _wait("4 events through the slow backend", lambda: len(backend.received) >= 4, 120)
    # then it hangs mid-tick, for a few ticks
    backend.delay = 3600.0
    time.sleep(3 * BUDGET_SECONDS)
    hung_at = len(backend.received)
    # and comes back
    backend.delay = 0.0
    backend.released.set()
    wanted = {
        ("START", "daily_orders"),
        ("COMPLETE", "daily_orders.keep_valid"),
        ("COMPLETE", "daily_orders"),
        ("COMPLETE", "customers_job.customers"),
        ("COMPLETE", "customers_job"),
    }
    _wait("every run's events", lambda: wanted <= _jobs(backend), 120)
    for event in backend.received:
        schemas.validate_event(event)

    instance = DagsterInstance.from_config(str(home))
    try:
        states = instance.all_instigator_state()
        [state] = [s for s in states if s.instigator_name == "openlineage_sensor"]
        ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id)
    finally:
        instance.dispose()
    ended = [t for t in ticks if t.status is not TickStatus.STARTED and t.end_timestamp]
    seconds = sorted(t.end_timestamp - t.timestamp for t in ended)  # type: ignore[operator]
    print(
        f"{len(ended)} ticks, {hung_at} events before the backend hung; tick seconds: "
        f"median {seconds[len(seconds) // 2]:.1f}, longest {seconds[-1]:.1f} "
        f"(budget {BUDGET_SECONDS}, Dagster's timeout {DAGSTER_TIMEOUT_SECONDS})"
    )
    assert seconds[-1] < DAGSTER_TIMEOUT_SECONDS
    # a tick that moved nothing is red, for the backend's reason; none for Dagster's timeout
    failures = [t.error.to_string() for t in ended if t.status is TickStatus.FAILURE and t.error]
    assert failures, "the hanging backend was never felt"
    for failure in failures:
        assert "was not accepted: ReadTimeout" in failure, failure
        assert "sensor tick timed out" not in failure
    reasons = " ".join(t.skip_reason or "" for t in ended)
    if BUDGET_SECONDS < 4 * ANSWER_SECONDS:  # fewer than the 4 events it waits for fit a tick
        assert "the tick's budget ran out while sending" in reasons  # the slow backend was felt
