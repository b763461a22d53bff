"""The sensor configured as users configure it, and what it does when things go wrong."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance, Definitions, reconstructable
from dagster._core.execution.api import execute_run

try:
    from dagster._core.remote_origin import (
        RegisteredCodeLocationOrigin,
        RemoteJobOrigin,
        RemoteRepositoryOrigin,
    )
except ImportError:  # Dagster < 1.12 kept the origins in remote_representation
    from dagster._core.remote_representation.origin import (  # type: ignore[no-redef]
        RegisteredCodeLocationOrigin,
        RemoteJobOrigin,
        RemoteRepositoryOrigin,
    )

from dependency_injector import providers

from ol_dagster import openlineage_sensor
from ol_dagster.app.container import Container
from ol_dagster.domain.errors import BackendError, ConfigurationError, CursorError
from ol_dagster.domain.translate import Translator
from tests.support.backend import LineageBackend, http_without_client_retries
from tests.support.dagster_env import SensorDriver, dagster_instance, etl
from tests.support.schemas import OpenLineageSchemas


@pytest.fixture
def sqlite_instance(tmp_path: Path) -> Any:
    with dagster_instance("sqlite_sharded", tmp_path / "home") as instance:
        yield instance


def _driver(instance: DagsterInstance, **kwargs: Any) -> SensorDriver:
    sensor = openlineage_sensor(**kwargs)
    return SensorDriver(sensor, Definitions(jobs=[etl], sensors=[sensor]), instance)


def test_api_key_is_sent_as_bearer_and_kept_out_of_the_cursor(
    sqlite_instance: DagsterInstance, lineage_env: LineageBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENLINEAGE_API_KEY", "s3cr3t-k3y")
    driver = _driver(sqlite_instance)
    etl.execute_in_process(instance=sqlite_instance)
    driver.tick_until_caught_up()
    assert len(lineage_env.received) == 8
    assert {h["Authorization"] for h in lineage_env.headers} == {"Bearer s3cr3t-k3y"}
    assert "s3cr3t" not in (driver.cursor or "")
    assert all("s3cr3t" not in (m or "") for m in driver.skip_messages)


def test_openlineage_namespace_names_runs_without_a_code_location(
    sqlite_instance: DagsterInstance, lineage_env: LineageBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENLINEAGE_NAMESPACE", "analytics")
    driver = _driver(sqlite_instance)
    etl.execute_in_process(instance=sqlite_instance)
    driver.tick_until_caught_up()
    assert {e["job"]["namespace"] for e in lineage_env.received} == {"analytics"}


def test_a_run_launched_from_a_code_location_is_named_after_it(
    sqlite_instance: DagsterInstance, lineage_env: LineageBackend, schemas: OpenLineageSchemas
) -> None:
    # As the daemon launches a run: with the origin of its code location, multiprocess executor.
    repository = RemoteRepositoryOrigin(
        RegisteredCodeLocationOrigin("sales_pipelines"), "__repository__"
    )
    run = sqlite_instance.create_run_for_job(
        etl,
        remote_job_origin=RemoteJobOrigin(repository, "etl"),
        job_code_origin=reconstructable(etl).get_python_origin(),
    )
    assert execute_run(reconstructable(etl), run, sqlite_instance).success
    _driver(sqlite_instance).tick_until_caught_up()
    events = lineage_env.received
    assert len(events) == 8
    assert {e["job"]["namespace"] for e in events} == {"sales_pipelines"}
    parents = {
        e["run"]["facets"]["parent"]["job"]["namespace"]
        for e in events
        if "parent" in e["run"]["facets"]
    }
    assert parents == {"sales_pipelines"}
    for event in events:
        schemas.validate_run_event(event)


def test_the_client_reads_openlineage_dunder_transport_variables(
    sqlite_instance: DagsterInstance, backend: LineageBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    http_without_client_retries(monkeypatch, backend)
    etl.execute_in_process(instance=sqlite_instance)
    _driver(sqlite_instance).tick_until_caught_up()
    assert len(backend.received) == 8


def test_a_backend_that_is_down_fails_the_tick_and_keeps_the_cursor(
    sqlite_instance: DagsterInstance, backend: LineageBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    http_without_client_retries(monkeypatch, backend)
    driver = _driver(sqlite_instance, tick_budget_seconds=0.2)  # no time for retries
    driver.tick()
    before = driver.cursor
    etl.execute_in_process(instance=sqlite_instance)
    backend.stop()
    for _ in range(3):
        with pytest.raises(BackendError, match="was not accepted: ConnectionError"):
            driver.tick()
        assert driver.cursor == before
    backend.start()
    driver.tick_until_caught_up()
    assert len(backend.received) == 8


def test_a_backend_failing_mid_batch_keeps_what_was_sent_and_resends_the_rest(
    sqlite_instance: DagsterInstance, backend: LineageBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    http_without_client_retries(monkeypatch, backend)
    driver = _driver(sqlite_instance, record_filter_limit=100, tick_budget_seconds=0.2)
    etl.execute_in_process(instance=sqlite_instance)
    backend.accept_limit = 3
    message = driver.tick() or ""
    assert "emitted 3 events" in message and "503" in message
    assert "records to send again" in message
    backend.accept_limit = None
    driver.tick_until_caught_up()
    assert [(e["eventType"], e["job"]["name"]) for e in backend.received][2:4] == [
        ("COMPLETE", "etl.extract"),
        ("START", "etl.transform"),
    ]
    assert len(backend.received) == 8


def test_a_bad_openlineage_url_is_a_clear_error(
    sqlite_instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENLINEAGE_URL", "localhost:5000")
    driver = _driver(sqlite_instance)
    with pytest.raises(ConfigurationError, match=r"OPENLINEAGE_URL: .*http:// or https://"):
        driver.tick()
    assert driver.cursor is None


def test_a_malformed_cursor_is_an_error_that_says_how_to_reset_it(
    sqlite_instance: DagsterInstance, lineage_env: LineageBackend
) -> None:
    driver = _driver(sqlite_instance)
    for cursor in (
        '{"last_storage_id": "twelve", "running_pipelines": {}}',
        "not json",
        '{"version": 9}',
    ):
        driver.cursor = cursor
        with pytest.raises(CursorError, match=r"not an ol-dagster cursor.*Reset it"):
            driver.tick()
        assert driver.cursor == cursor


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"record_filter_limit": 0}, "record_filter_limit must be at least 1"),
        ({"after_storage_id": -5}, "after_storage_id must not be negative"),
        ({"tick_budget_seconds": 0}, "tick_budget_seconds must be positive"),
    ],
)
def test_bad_sensor_arguments_are_refused_at_definition(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        openlineage_sensor(**kwargs)


def test_secrets_stay_out_of_errors_logs_and_cursors(
    sqlite_instance: DagsterInstance,
    backend: LineageBackend,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    http_without_client_retries(monkeypatch, backend)
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__AUTH__TYPE", "api_key")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__AUTH__APIKEY", "k3y-in-the-error")
    # The key also in the URL's path, so that the connection error quotes it.
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__URL", f"{backend.url}/k3y-in-the-error/")
    driver = _driver(sqlite_instance, tick_budget_seconds=0.2)
    etl.execute_in_process(instance=sqlite_instance)
    backend.stop()
    with pytest.raises(BackendError) as raised:
        driver.tick()
    assert "k3y-in-the-error" not in str(raised.value)
    assert "k3y-in-the-error" not in caplog.text
    backend.start()
    driver.tick_until_caught_up()
    assert {h["Authorization"] for h in backend.headers} == {"Bearer k3y-in-the-error"}
    assert "k3y" not in (driver.cursor or "")


def test_the_batch_transport_sends_arrays_to_the_batch_endpoint(
    sqlite_instance: DagsterInstance,
    backend: LineageBackend,
    monkeypatch: pytest.MonkeyPatch,
    schemas: OpenLineageSchemas,
) -> None:
    http_without_client_retries(monkeypatch, backend)
    monkeypatch.setenv(
        "OPENLINEAGE__TRANSPORT__TYPE", "ol_dagster.adapters.http_batch.HttpBatchTransport"
    )
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__BATCH_SIZE", "5")
    etl.execute_in_process(instance=sqlite_instance)
    etl.execute_in_process(instance=sqlite_instance)
    _driver(sqlite_instance, record_filter_limit=100).tick_until_caught_up()
    assert len(backend.received) == 16
    assert backend.paths == ["/api/v1/lineage/batch"] * 4  # 5 + 5 + 5 + 1 events
    for event in backend.received:
        schemas.validate_run_event(event)


@pytest.mark.parametrize(
    ("environment", "why"),
    [
        ({}, "configured: set"),
        # each of these once made the client print history to its log while the cursor moved on
        ({"OPENLINEAGE_DISABLED": "false"}, "configured: set"),
        ({"OPENLINEAGE_DISABLED": "0"}, "configured: set"),
        ({"OPENLINEAGE_CONFIG": "missing.yml"}, "(OPENLINEAGE_CONFIG=missing.yml names no file)"),
        (
            {"OPENLINEAGE__TRANSPORT__URL": "http://127.0.0.1:9"},
            "(the transport settings name no type: set OPENLINEAGE__TRANSPORT__TYPE, e.g. http)",
        ),
    ],
)
def test_with_no_transport_configured_the_sensor_waits_instead_of_printing_history(
    sqlite_instance: DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    environment: dict[str, str],
    why: str,
) -> None:
    for name in [n for n in os.environ if n.startswith("OPENLINEAGE")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.openlineage/openlineage.yml either
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    etl.execute_in_process(instance=sqlite_instance)
    driver = _driver(sqlite_instance)
    with pytest.raises(ConfigurationError, match="no OpenLineage transport is") as raised:
        driver.tick()
    assert why in str(raised.value)
    assert driver.cursor is None


def test_a_disabled_client_sends_nothing_and_marks_nothing_sent(
    sqlite_instance: DagsterInstance, lineage_env: LineageBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    etl.execute_in_process(instance=sqlite_instance)
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    disabled = _driver(sqlite_instance)
    for _ in range(3):
        message = disabled.tick() or ""
        assert message.startswith("OpenLineage is disabled") and "the cursor waits" in message
    assert disabled.cursor is None and lineage_env.received == []
    # enabled again (the code location reloaded with the new environment): everything is sent
    monkeypatch.delenv("OPENLINEAGE_DISABLED")
    enabled = _driver(sqlite_instance)
    enabled.cursor = disabled.cursor
    enabled.tick_until_caught_up()
    assert [e["eventType"] for e in lineage_env.received].count("COMPLETE") == 4


class _BugFromSecondPage(Translator):
    """A translator with a bug that shows from the second page it is given."""

    def __init__(self, default_namespace: str) -> None:
        super().__init__(default_namespace)
        self.pages = 0

    def translate_all(self, state: Any, records: Any) -> Any:
        self.pages += 1
        if self.pages >= 2:
            raise RuntimeError("a bug in translating")
        return super().translate_all(state, records)


def test_an_error_after_a_saved_page_keeps_the_page_through_dagster(
    sqlite_instance: DagsterInstance, lineage_env: LineageBackend
) -> None:
    """Dagster keeps the cursor of an evaluation that returns only: the page sent before the
    error stays sent, and the next tick, which moves nothing, fails."""
    etl.execute_in_process(instance=sqlite_instance)
    etl.execute_in_process(instance=sqlite_instance)
    wiring = Container()
    translator = _BugFromSecondPage("default")
    wiring.translator.override(providers.Object(translator))  # the override the container offers
    sensor = openlineage_sensor(record_filter_limit=4, container=wiring)
    driver = SensorDriver(sensor, Definitions(jobs=[etl], sensors=[sensor]), sqlite_instance)
    message = driver.tick() or ""
    assert "stopped: an error, what was sent before it kept: RuntimeError: a bug" in message
    assert driver.cursor is not None  # the first page's cursor, kept by Dagster
    sent = len(lineage_env.received)
    assert sent == 4
    with pytest.raises(Exception, match="a bug in translating"):
        driver.tick()
    assert len(lineage_env.received) == sent  # not sent again
