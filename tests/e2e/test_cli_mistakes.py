"""The mistakes a new user makes, each answered by the real `ol-dagster` command in one line that
names the fix, with a non-zero exit code: never a traceback, never a wrong "all good"."""

from __future__ import annotations

import json
import os
import shutil
import socket
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


def _ol_dagster(
    env: dict[str, str], *args: str, cwd: Path, as_a_user: bool = False
) -> subprocess.CompletedProcess[str]:
    """The real command; `as_a_user`: without root's right to ignore file permissions."""
    return subprocess.run(
        [*(_a_user() if as_a_user else []), str(BIN / "ol-dagster"), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _a_user() -> list[str]:
    """As root (these tests' machines), `chmod` does not stop a process: run the command as root
    without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so that the kernel checks file permissions
    as it does for any other user."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv (util-linux): permissions cannot be tried")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}"]


def _one_error_line(done: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The command failed with exactly one line of error, and no traceback (code 2: click's
    usage error, for an option's bad value)."""
    assert done.returncode == code, done.stdout + done.stderr
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


@pytest.mark.parametrize(
    ("args", "option", "problem"),
    [
        (["replay", "--from-storage-id", "0", "--page-size", str(10**30)], "--page-size", "1<=x"),
        (
            ["replay", "--from-storage-id", str(2**63), "--to-storage-id", str(2**63 + 5)],
            "--from-storage-id",
            "is not in the range 0<=x<=9223372036854775807",
        ),
        (
            ["replay", "--from-storage-id", "0", "--to-storage-id", str(2**63)],
            "--to-storage-id",
            "<=9223372036854775807",
        ),
        (
            ["tail", "--after-storage-id", str(10**30)],
            "--after-storage-id",
            "<=9223372036854775807",
        ),
        (["tail", "--interval", "nan"], "--interval", "nan is not a number of seconds"),
        (["tail", "--interval", "inf"], "--interval", "0<=x<=86400"),
        (["tail", "--interval", "-1"], "--interval", "0<=x<=86400"),
    ],
    ids=lambda value: value if isinstance(value, str) and value.startswith("--") else "",
)
def test_an_option_out_of_its_range_is_a_usage_error(
    home: Path, tmp_path: Path, args: list[str], option: str, problem: str
) -> None:
    args = [*args, "--dry-run", *(["--max-ticks", "2"] if args[0] == "tail" else [])]
    error = _one_error_line(_ol_dagster(_env(home), *args, cwd=tmp_path), code=2)
    assert f"Invalid value for '{option}'" in error and problem in error


@pytest.mark.parametrize("unreadable", ["folder", "dagster.yaml"])
def test_an_unreadable_instance_is_named_with_who_must_read_it(
    home: Path, tmp_path: Path, unreadable: str
) -> None:
    copy = tmp_path / "dagster_home"
    shutil.copytree(home, copy)
    (copy if unreadable == "folder" else copy / "dagster.yaml").chmod(0)
    try:
        done = _ol_dagster(
            _env(copy), "tail", "--dry-run", "--max-ticks", "1", cwd=tmp_path, as_a_user=True
        )
    finally:
        copy.chmod(0o755)
        (copy / "dagster.yaml").chmod(0o644)
    error = _one_error_line(done)
    assert "Permission denied" in error
    assert "the user running ol-dagster must be able to read and write" in error.lower()


def test_a_read_only_instance_is_named_with_who_must_write_it(home: Path, tmp_path: Path) -> None:
    copy = tmp_path / "dagster_home"
    shutil.copytree(home, copy)
    for path in [copy, *copy.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)
    try:
        done = _ol_dagster(
            _env(copy), "tail", "--dry-run", "--max-ticks", "1", cwd=tmp_path, as_a_user=True
        )
    finally:
        for path in [copy, *copy.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
    error = _one_error_line(done)
    assert "attempt to write a readonly database" in error
    assert f"must be able to write DAGSTER_HOME={copy}" in error


@pytest.mark.parametrize(
    ("yaml_text", "problem"),
    [
        ("telemetry:\n  enabled: [false\n", "ParserError: while parsing a flow sequence"),
        (
            "event_log_storage:\n  module: dagster._core.storage.event_log\n"
            "  class: NoSuchStorage\n",
            "Couldn't find class NoSuchStorage",
        ),
        (
            "event_log_storage:\n  modul: dagster._core.storage.event_log\n  class: X\n",
            "DagsterInvalidConfigError: Errors whilst loading dagster instance config at "
            'dagster.yaml. Error 1: Received unexpected config entry "modul"',
        ),
    ],
    ids=["yaml syntax", "unknown storage class", "unknown key"],
)
def test_a_broken_dagster_yaml_is_named_with_its_problem(
    tmp_path: Path, yaml_text: str, problem: str
) -> None:
    broken = tmp_path / "dagster_home"
    broken.mkdir()
    (broken / "dagster.yaml").write_text(yaml_text)
    done = _ol_dagster(_env(broken), "tail", "--dry-run", "--max-ticks", "1", cwd=tmp_path)
    error = _one_error_line(done)
    assert problem in error and f"Fix {broken / 'dagster.yaml'}" in error


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again: nothing listens on it


@pytest.mark.parametrize("command", [["doctor"], ["tail", "--dry-run", "--max-ticks", "1"]])
def test_postgres_down_is_one_line_without_its_password(tmp_path: Path, command: list[str]) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    port = _closed_port()
    (home / "dagster.yaml").write_text(
        "storage:\n  postgres:\n    postgres_db:\n      username: dagster\n"
        f"      password: s3cr3t-pw\n      hostname: 127.0.0.1\n      port: {port}\n"
        "      db_name: dagster\n"
    )
    done = _ol_dagster(_env(home), *command, cwd=tmp_path)
    error = _one_error_line(done)
    assert f"its PostgreSQL server 127.0.0.1:{port} does not answer (Connection refused)" in error
    assert "s3cr3t-pw" not in done.stdout + done.stderr
    assert "Retrying" not in done.stderr  # failed before Dagster's retries


def test_a_config_error_never_shows_a_password_of_dagster_yaml(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "storage:\n  postgres:\n    postgres_db:\n      username: dagster\n"
        "      password: s3cr3t-pw\n      hostname: 127.0.0.1\n      port: 5432\n"
        "      db_name: dagster\n      db_nme: s3cr3t-pw\n"
    )
    done = _ol_dagster(_env(home), "tail", "--dry-run", "--max-ticks", "1", cwd=tmp_path)
    error = _one_error_line(done)
    assert 'unexpected config entry "db_nme"' in error
    assert "s3cr3t-pw" not in done.stdout + done.stderr


@pytest.mark.parametrize("folder", ["missing", "read-only"])
def test_a_state_file_that_cannot_be_written_is_said_before_anything_is_sent(
    home: Path, tmp_path: Path, backend: LineageBackend, folder: str
) -> None:
    where = tmp_path / "states"
    if folder == "read-only":
        where.mkdir()
        where.chmod(0o555)
    state = where / "state.json"
    env = _env(home, OPENLINEAGE_URL=backend.url)
    args = ["replay", "--from-storage-id", "0", "--page-size", "1", "--state-file", str(state)]
    try:
        done = _ol_dagster(env, *args, cwd=tmp_path, as_a_user=True)
    finally:
        if where.exists():
            where.chmod(0o755)
    error = _one_error_line(done)
    assert f"the replay state file {state} cannot be kept" in error
    assert "nothing was sent" in error
    assert backend.received == []
    assert not state.exists()
