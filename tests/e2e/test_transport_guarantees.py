"""What each transport guarantees, as users meet it: `ol-dagster doctor` and the sensor's tick, on a
real instance with really executed runs, the client configured by environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from dagster import DagsterInstance, Definitions

from ol_dagster import openlineage_sensor
from ol_dagster.entry.cli import cli
from tests.support.backend import LineageBackend
from tests.support.dagster_env import SensorDriver, dagster_instance, etl
from tests.support.schemas import OpenLineageSchemas


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DagsterInstance]:
    home = tmp_path / "dagster_home"
    with dagster_instance("sqlite_sharded", home) as dagster:
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        monkeypatch.chdir(tmp_path)
        for name in ("OPENLINEAGE_CONFIG", "OPENLINEAGE_DISABLED", "OPENLINEAGE_URL"):
            monkeypatch.delenv(name, raising=False)
        yield dagster


def _async_http(monkeypatch: pytest.MonkeyPatch, backend: LineageBackend) -> None:
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "async_http")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__URL", backend.url)
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__RETRY", '{"total": 0}')


def _driver(instance: DagsterInstance) -> SensorDriver:
    sensor = openlineage_sensor(tick_budget_seconds=3)
    return SensorDriver(sensor, Definitions(jobs=[etl], sensors=[sensor]), instance)


def test_async_http_delivers_every_event_before_the_cursor_moves(
    instance: DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
    backend: LineageBackend,
    schemas: OpenLineageSchemas,
) -> None:
    _async_http(monkeypatch, backend)
    etl.execute_in_process(instance=instance)
    driver = _driver(instance)
    backend.status = 503
    with pytest.raises(Exception, match="async_http did not deliver"):
        driver.tick()
    assert driver.cursor is None
    backend.status = 200
    driver.tick_until_caught_up()
    assert sorted((e["eventType"], e["job"]["name"]) for e in backend.received) == sorted(
        [
            (kind, job)
            for job in ("etl", "etl.extract", "etl.transform", "etl.load")
            for kind in ("START", "COMPLETE")
        ]
    )
    for event in backend.received:
        schemas.validate_event(event)


def test_doctor_names_how_async_http_is_confirmed(
    instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch, backend: LineageBackend
) -> None:
    _async_http(monkeypatch, backend)
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "sends in the background: each page waits" in result.output
    assert "accepts events (sent job ol_dagster_doctor as a probe)" in result.output


def test_a_composite_that_only_logs_failures_is_refused_in_one_line(
    instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch, backend: LineageBackend
) -> None:
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "composite")
    monkeypatch.setenv(
        "OPENLINEAGE__TRANSPORT__TRANSPORTS", f'[{{"type": "http", "url": "{backend.url}"}}]'
    )
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 1
    [line] = [line for line in result.output.splitlines() if "delivery" in line]
    assert "PROBLEM" in line and "set continue_on_failure: false" in line
    etl.execute_in_process(instance=instance)
    driver = _driver(instance)
    with pytest.raises(Exception, match="set continue_on_failure: false"):
        driver.tick()
    assert driver.cursor is None and backend.received == []
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__CONTINUE_ON_FAILURE", "false")  # the fix
    _driver(instance).tick_until_caught_up()
    assert len(backend.received) == 8


def test_a_transport_of_ones_own_is_named_unconfirmed_in_doctor_and_the_tick(
    instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "tests.support.transports.Quiet")
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "not confirmed: tests.support.transports.Quiet" in result.output
    etl.execute_in_process(instance=instance)
    message = _driver(instance).tick() or ""
    assert "delivery not confirmed: tests.support.transports.Quiet" in message
