"""The mistakes a new user makes, each answered by the real `ol-dagster` command in one line that
names the fix, with a non-zero exit code: never a traceback, never a wrong "all good"."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ol_dagster.domain.errors import CURSOR_RESET_HINT
from tests.support.backend import LineageBackend
from tests.support.dagster_env import dagster_instance, etl
from tests.support.dagster_processes import BIN, ROOT
from tests.support.schemas import OpenLineageSchemas

EXAMPLE_WORKSPACE = ROOT / "examples" / "workspace.yaml"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An instance with two runs, and the example's sensor known to it (stopped)."""
    folder = tmp_path_factory.mktemp("mistakes") / "dagster_home"
    with dagster_instance("sqlite_consolidated", folder) as instance:
        for _ in range(2):
            etl.execute_in_process(instance=instance)
    stopped = subprocess.run(
        [
            str(BIN / "dagster"),
            "sensor",
            "stop",
            "openlineage_sensor",
            "-w",
            str(EXAMPLE_WORKSPACE),
        ],
        env=_env(folder),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    return folder


def _env(home: Path | str, **settings: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENLINEAGE", "OL_"))}
    return clean | {"DAGSTER_HOME": str(home)} | settings


def _ol_dagster(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "ol-dagster"), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The command failed with exactly one line of error, and no traceback."""
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, done.stderr
    return errors[0]


@pytest.mark.parametrize(
    "args",
    [
        ["tail", "--dry-run", "--max-ticks", "1"],
        ["replay", "--from-storage-id", "0"],
        ["replay", "--from-storage-id", "0", "--dry-run"],
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_a_url_without_a_scheme_is_named_with_a_valid_example(
    home: Path, tmp_path: Path, args: list[str]
) -> None:
    done = _ol_dagster(_env(home, OPENLINEAGE_URL="localhost:5000"), *args, cwd=tmp_path)
    error = _one_error_line(done)
    assert "OPENLINEAGE_URL: must be an http:// or https:// URL" in error
    assert "like http://localhost:5000" in error


def test_doctor_reports_a_url_without_a_scheme_among_its_problems(
    home: Path, tmp_path: Path
) -> None:
    done = _ol_dagster(_env(home, OPENLINEAGE_URL="localhost:5000"), "doctor", cwd=tmp_path)
    assert "fix the settings first" in _one_error_line(done)
    [problem] = [line for line in done.stdout.splitlines() if line.startswith("PROBLEM")]
    assert "OPENLINEAGE_URL: must be an http:// or https:// URL" in problem


def test_doctor_names_the_sensors_when_the_one_asked_for_does_not_exist(
    home: Path, tmp_path: Path, backend: LineageBackend
) -> None:
    env = _env(home, OPENLINEAGE_URL=backend.url)
    assert _ol_dagster(env, "doctor", cwd=tmp_path).returncode == 0
    done = _ol_dagster(env, "doctor", "--sensor-name", "nope", cwd=tmp_path)
    assert _one_error_line(done) == "Error: 1 problem(s) found"
    [problem] = [line for line in done.stdout.splitlines() if line.startswith("PROBLEM")]
    assert "no sensor named 'nope' on this instance; its sensors: openlineage_sensor" in problem


@pytest.mark.parametrize(
    "text",
    ["garbage", '{"some": "other tool\'s state"}', '{"v": 2, "position": {"after": "x"}}'],
    ids=["garbage", "foreign", "damaged"],
)
def test_a_bad_replay_state_file_is_named_with_its_fix(
    home: Path, tmp_path: Path, backend: LineageBackend, text: str
) -> None:
    state = tmp_path / "state.json"
    state.write_text(text)
    env = _env(home, OPENLINEAGE_URL=backend.url)
    args = ["replay", "--from-storage-id", "0", "--state-file", str(state)]
    error = _one_error_line(_ol_dagster(env, *args, cwd=tmp_path))
    assert f"the replay state file {state} cannot be used" in error
    assert "Delete it, or give another --state-file" in error
    assert "Dagster UI" not in error  # the sensor's cursor has nothing to do with it
    assert backend.received == []
    assert state.read_text() == text  # left as it was, for the user to look at


def test_a_relative_dagster_home_is_named_with_its_absolute_form(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    done = _ol_dagster(_env("home"), "doctor", cwd=tmp_path)
    assert _one_error_line(done) == (
        f"Error: DAGSTER_HOME=home is relative; Dagster needs an absolute path, like "
        f"DAGSTER_HOME={tmp_path / 'home'}"
    )


@pytest.mark.parametrize("command", [["doctor"], ["tail", "--dry-run", "--max-ticks", "1"]])
def test_an_empty_dagster_home_is_a_typo_and_stays_empty(
    tmp_path: Path, command: list[str]
) -> None:
    empty = tmp_path / "typo"
    empty.mkdir()
    done = _ol_dagster(_env(empty, OPENLINEAGE_URL="http://127.0.0.1:9"), *command, cwd=tmp_path)
    assert "holds no Dagster instance (no dagster.yaml, no history/)" in _one_error_line(done)
    assert list(empty.iterdir()) == []


def test_a_disabled_client_never_marks_history_as_replayed(
    home: Path, tmp_path: Path, backend: LineageBackend
) -> None:
    disabled = _env(home, OPENLINEAGE_URL=backend.url, OPENLINEAGE_DISABLED="true")
    state = tmp_path / "state.json"
    args = ["replay", "--from-storage-id", "0", "--state-file", str(state)]
    error = _one_error_line(_ol_dagster(disabled, *args, cwd=tmp_path))
    assert "OpenLineage is disabled" in error and "--dry-run" in error
    assert not state.exists()
    # enabled again, the same command sends all of it
    done = _ol_dagster(_env(home, OPENLINEAGE_URL=backend.url), *args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [e["eventType"] for e in backend.received].count("COMPLETE") == 8  # 2 runs, 3 steps
    assert json.loads(state.read_text())


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("OL_DAGSTER_EXCLUDE", "dbt", "OL_DAGSTER_EXCLUDE: 'dbt' is not a selector"),
        ("OL_DAGSTER_INCLUDE", "team:data", "like job:nightly_*,tag:team=data"),
        ("OL_DAGSTER_FACETS", "my_hooks.py", "must be module:function, like my_company"),
        ("OL_DAGSTER_FACETS", "no_such_module:facets", "OL_DAGSTER_FACETS=no_such_module:facets"),
    ],
)
def test_a_bad_control_setting_is_named_with_a_valid_example(
    home: Path, tmp_path: Path, backend: LineageBackend, setting: str, value: str, message: str
) -> None:
    env = _env(home, OPENLINEAGE_URL=backend.url, **{setting: value})
    done = _ol_dagster(env, "replay", "--from-storage-id", "0", "--dry-run", cwd=tmp_path)
    assert message in _one_error_line(done)


def test_doctor_reports_the_controls(home: Path, tmp_path: Path, backend: LineageBackend) -> None:
    env = _env(
        home,
        OPENLINEAGE_URL=backend.url,
        OL_DAGSTER_EXCLUDE="asset:dbt/*",
        OL_DAGSTER_JOB_NAMESPACE="prod",
        OL_DAGSTER_FACETS="tests.support.facets_hook:cost_centre",
        PYTHONPATH=str(ROOT),
    )
    done = _ol_dagster(env, "doctor", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "include everything; exclude asset:dbt/*" in done.stdout
    assert "namespace prod" in done.stdout
    assert "hook tests.support.facets_hook:cost_centre" in done.stdout


@pytest.mark.parametrize(
    ("status", "problem"),
    [
        (401, "refused the credentials (HTTP 401): check OPENLINEAGE_API_KEY"),
        (403, "refused the credentials (HTTP 403)"),
        (400, "refused the event as invalid (schema)"),
        (404, "has no such endpoint (HTTP 404): check the URL and OPENLINEAGE_ENDPOINT"),
    ],
)
def test_doctor_sends_a_real_event_and_reports_a_refusal(
    home: Path, tmp_path: Path, backend: LineageBackend, status: int, problem: str
) -> None:
    backend.status = status
    env = _env(home, OPENLINEAGE_URL=backend.url, OPENLINEAGE_API_KEY="wrong-k3y")
    done = _ol_dagster(env, "doctor", cwd=tmp_path)
    assert _one_error_line(done) == "Error: 1 problem(s) found"
    [line] = [line for line in done.stdout.splitlines() if line.startswith("PROBLEM")]
    assert "backend" in line and problem in line
    assert "wrong-k3y" not in done.stdout + done.stderr


def test_doctor_probe_is_a_valid_job_event(
    home: Path, tmp_path: Path, backend: LineageBackend, schemas: OpenLineageSchemas
) -> None:
    done = _ol_dagster(_env(home, OPENLINEAGE_URL=backend.url), "doctor", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    [probe] = backend.received
    schemas.validate_event(probe)
    assert probe["job"]["name"] == "ol_dagster_doctor" and "run" not in probe


def test_doctor_reports_a_disabled_client(home: Path, tmp_path: Path) -> None:
    env = _env(home, OPENLINEAGE_URL="http://127.0.0.1:9", OPENLINEAGE_DISABLED="true")
    done = _ol_dagster(env, "doctor", cwd=tmp_path)
    assert _one_error_line(done) == "Error: 1 problem(s) found"
    assert "OpenLineage is disabled" in done.stdout


def test_the_readme_cursor_reset_works_as_written(home: Path, tmp_path: Path) -> None:
    """`dagster sensor cursor --delete <name> -w workspace.yaml`, as the README and every cursor
    error say it (without a workspace, Dagster's command fails)."""
    done = subprocess.run(
        [str(BIN / "dagster"), "sensor", "cursor", "--delete", "openlineage_sensor", "-w",
         str(EXAMPLE_WORKSPACE)],
        env=_env(home),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "-w <your workspace.yaml>" in CURSOR_RESET_HINT
