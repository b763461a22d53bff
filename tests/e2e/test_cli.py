"""`ol-dagster`: the second entry adapter, on real instances and the real HTTP backend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from dagster import DagsterInstance

from ol_dagster.entry.cli import cli
from tests.support.backend import LineageBackend, http_without_client_retries
from tests.support.dagster_env import STORAGES, audited, dagster_instance, etl, run_config_for
from tests.support.schemas import OpenLineageSchemas

ETL_EVENTS = 8


@pytest.fixture(params=STORAGES)
def home(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, DagsterInstance]]:
    folder = tmp_path / "dagster_home"
    with dagster_instance(request.param, folder) as instance:
        monkeypatch.setenv("DAGSTER_HOME", str(folder))
        monkeypatch.chdir(tmp_path)
        yield folder, instance


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _stderr(result: Result) -> str:
    """What the command wrote to stderr: click < 8.2 (Dagster 1.11 pins it) mixes it into output."""
    try:
        return result.stderr
    except ValueError:
        return result.output


def _json_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_replay_dry_run_prints_history_as_json_lines(
    home: tuple[Path, DagsterInstance], schemas: OpenLineageSchemas
) -> None:
    _, instance = home
    etl.execute_in_process(instance=instance)
    result = _invoke("replay", "--from-storage-id", "0", "--dry-run", "--page-size", "3")
    assert result.exit_code == 0, result.output
    events = _json_lines(result.stdout)
    assert [(e["eventType"], e["job"]["name"]) for e in events][:2] == [
        ("START", "etl"),
        ("START", "etl.extract"),
    ]
    assert len(events) == ETL_EVENTS
    for event in events:
        schemas.validate_event(event)
    assert "replayed" in _stderr(result)


def test_replay_sends_history_and_resumes_after_an_interruption(
    home: tuple[Path, DagsterInstance], backend: LineageBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, instance = home
    http_without_client_retries(monkeypatch, backend)
    for _ in range(3):
        etl.execute_in_process(instance=instance)
    backend.accept_limit = 10
    interrupted = _invoke(
        "replay", "--from-storage-id", "0", "--page-size", "4", "--state-file", "replay.json"
    )
    assert interrupted.exit_code == 1
    assert "run the same command again to resume" in interrupted.output
    backend.accept_limit = None
    resumed = _invoke(
        "replay", "--from-storage-id", "0", "--page-size", "4", "--state-file", "replay.json"
    )
    assert resumed.exit_code == 0, resumed.output
    keys = [(e["run"]["runId"], e["eventType"]) for e in backend.received]
    assert len(set(keys)) == 3 * ETL_EVENTS  # everything, and repeats only of the same events
    assert keys[:10] == list(dict.fromkeys(keys))[:10]


def test_replay_stops_at_the_last_storage_id_asked(home: tuple[Path, DagsterInstance]) -> None:
    _, instance = home
    etl.execute_in_process(instance=instance)
    middle = _latest(instance)
    audited.execute_in_process(instance=instance, run_config=run_config_for(fail=False))
    result = _invoke(
        "replay", "--from-storage-id", "0", "--to-storage-id", str(middle), "--dry-run"
    )
    assert result.exit_code == 0, result.output
    assert {e["job"]["name"].split(".")[0] for e in _json_lines(result.stdout)} == {"etl"}


def _latest(instance: DagsterInstance) -> int:
    from ol_dagster.adapters.asset_catalog import AssetCatalog
    from ol_dagster.adapters.dagster_events import DagsterEventSource

    return DagsterEventSource(instance, AssetCatalog(None)).latest_storage_id()


def test_tail_prints_what_follows_a_storage_id(home: tuple[Path, DagsterInstance]) -> None:
    _, instance = home
    etl.execute_in_process(instance=instance)
    start = _latest(instance)
    audited.execute_in_process(instance=instance, run_config=run_config_for(fail=False))
    result = _invoke(
        "tail", "--dry-run", "--after-storage-id", str(start), "--max-ticks", "2", "--interval", "0"
    )
    assert result.exit_code == 0, result.output
    assert {e["job"]["name"].split(".")[0] for e in _json_lines(result.stdout)} == {"audited"}


def test_tail_from_the_end_prints_nothing_old(home: tuple[Path, DagsterInstance]) -> None:
    _, instance = home
    etl.execute_in_process(instance=instance)
    result = _invoke("tail", "--dry-run", "--max-ticks", "1")
    assert result.exit_code == 0 and _json_lines(result.stdout) == []


def test_doctor_explains_the_setup(
    home: tuple[Path, DagsterInstance], lineage_env: LineageBackend
) -> None:
    result = _invoke("doctor")
    assert result.exit_code == 0, result.output
    assert "instance" in result.output and "transport" in result.output
    assert "accepts events (sent job ol_dagster_doctor as a probe)" in result.output
    assert "has no cursor yet" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["replay", "--from-storage-id", "5", "--to-storage-id", "3"], "nothing to replay"),
        (["replay", "--from-storage-id", "-1"], "Invalid value for '--from-storage-id'"),
        (["tail"], "Missing option '--dry-run'"),
    ],
)
def test_bad_arguments_exit_non_zero_with_a_clear_message(
    home: tuple[Path, DagsterInstance], args: list[str], message: str
) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0
    assert message in result.output


def test_a_bug_keeps_its_traceback_under_a_line_that_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken() -> None:
        raise RuntimeError("a bug of ol-dagster")

    monkeypatch.setattr("ol_dagster.entry.cli._home", broken)
    result = CliRunner().invoke(cli, ["tail", "--dry-run"])
    assert isinstance(result.exception, RuntimeError)  # not turned into a one-line message
    assert "failed on an error it did not foresee: a bug" in _stderr(result)


def test_without_an_instance_every_command_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    for args in (["doctor"], ["tail", "--dry-run"], ["replay", "--from-storage-id", "0"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1
        assert "DAGSTER_HOME is not set" in result.output


def test_doctor_reports_an_unreachable_backend(
    home: tuple[Path, DagsterInstance], backend: LineageBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENLINEAGE_URL", backend.url)
    monkeypatch.setenv("OPENLINEAGE_API_KEY", "hidden-k3y")
    backend.stop()
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 1
    assert "does not answer" in result.output
    assert "hidden-k3y" not in result.output
