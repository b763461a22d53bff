"""A backend refusing one job: every other job's lineage arrives, and the refused events are
listed and sent again with the real `ol-dagster` command."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, Definitions, job, op

from ol_dagster import openlineage_sensor
from tests.support.backend import LineageBackend
from tests.support.dagster_env import SensorDriver, audited, etl, run_config_for
from tests.support.dagster_processes import BIN, ROOT, new_dagster_home, running
from tests.support.schemas import OpenLineageSchemas


def _command(instance: DagsterInstance, backend: LineageBackend, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINEAGE")}
    home = instance.root_directory
    env |= {"DAGSTER_HOME": str(home), "OPENLINEAGE_URL": backend.url}
    done = subprocess.run(
        [str(BIN / "ol-dagster"), *args], env=env, capture_output=True, text=True, timeout=120
    )
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    return f"exit {done.returncode}\n{output}"


# The key-value store is the run storage's: SQLite's (the same for both SQLite event logs) and
# PostgreSQL's; tests/contract/test_dead_letters_contract.py covers each at both ends of the range.
@pytest.mark.parametrize("instance", ["sqlite_sharded", "postgres"], indirect=True)
def test_a_refused_job_holds_back_no_other_and_its_events_are_resent(
    instance: DagsterInstance,
    lineage_env: LineageBackend,
    schemas: OpenLineageSchemas,
) -> None:
    backend = lineage_env
    backend.refuse_jobs = {"audited"}
    etl.execute_in_process(instance=instance)
    audited.execute_in_process(instance=instance, run_config=run_config_for(fail=False))
    etl.execute_in_process(instance=instance)
    sensor = openlineage_sensor(record_filter_limit=5)
    driver = SensorDriver(sensor, Definitions(jobs=[etl, audited], sensors=[sensor]), instance)
    driver.tick_until_caught_up()

    jobs = {e["job"]["name"].split(".")[0] for e in backend.received}
    assert jobs == {"etl"}
    runs_done = [e for e in backend.received if e["job"]["name"] == "etl"]
    assert sum(e["eventType"] == "COMPLETE" for e in runs_done) == 2
    said = " ".join(m or "" for m in driver.skip_messages)
    assert "set aside" in said and "dead letters kept (`ol-dagster dead-letters list`" in said

    listed = _command(instance, backend, "dead-letters", "list")
    assert listed.startswith("exit 0\n"), listed
    lines = [line for line in listed.splitlines()[1:] if "event of job" in line]
    assert len(lines) == 8  # the run, and its 3 steps: a START and a COMPLETE each
    run_id = audited_run_id(instance)
    for line in lines:
        assert f"(Dagster run {run_id}, storage id " in line, line
        assert 'the backend answered: {"error": "job audited' in line, line
    doctor = _command(instance, backend, "doctor")
    assert doctor.startswith("exit 1\n") and "8 dead letters" in doctor, doctor

    backend.refuse_jobs = set()  # the backend fixed
    resent = _command(instance, backend, "dead-letters", "resend")
    assert resent.startswith("exit 0\n") and "resent 8 of 8" in resent, resent
    assert "0 dead letters" in _command(instance, backend, "dead-letters", "list")
    audited_events = [e for e in backend.received if e["job"]["name"].startswith("audited")]
    assert len(audited_events) == 8
    assert {e["run"]["runId"] for e in audited_events if e["job"]["name"] == "audited"}
    for event in backend.received:
        schemas.validate_event(event)
    assert "no dead letters" in _command(instance, backend, "doctor")


def audited_run_id(instance: DagsterInstance) -> str:
    [run] = [r for r in instance.get_runs() if r.job_name == "audited"]
    return run.run_id


@op
def step() -> int:
    return 1


@job
def refused_job() -> None:
    """Ten ops: a run is 22 OpenLineage events."""
    for n in range(10):
        step.alias(f"op_{n}")()


@job
def healthy_job() -> None:
    step()


REFUSED_RUNS, HEALTHY_RUNS = 200, 20


def test_two_hundred_refused_runs_under_the_daemon_hold_back_no_other_job(
    tmp_path: Path, backend: LineageBackend, schemas: OpenLineageSchemas
) -> None:
    """The backend refuses every event of one job; 200 runs of it are in the log, then 20 runs
    of another job. Under the real `dagster-daemon`, every event of the other job arrives; the
    refused job is set aside after 20 refusals, its 4,400 events listed and then sent, once the
    backend takes them, by one command, each run whole and once."""
    backend.refuse_jobs = {"refused_job"}
    home = new_dagster_home(tmp_path / "dagster_home")
    began = time.monotonic()
    with DagsterInstance.from_config(str(home)) as instance:
        for _ in range(REFUSED_RUNS):
            refused_job.execute_in_process(instance=instance)
        for _ in range(HEALTHY_RUNS):
            healthy_job.execute_in_process(instance=instance)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINEAGE")} | {
        "DAGSTER_HOME": str(home),
        "OPENLINEAGE_URL": backend.url,
        "OL_DAGSTER_EXAMPLE_SENSOR_INTERVAL": "2",
    }
    examples = ROOT / "examples"
    daemon = [str(BIN / "dagster-daemon"), "run", "-w", str(examples / "workspace.yaml")]
    ran = time.monotonic() - began
    with running(daemon, examples, env, tmp_path / "daemon.log"):
        deadline = time.monotonic() + 240
        while _completed(backend, "healthy_job") < HEALTHY_RUNS:
            assert time.monotonic() < deadline, (tmp_path / "daemon.log").read_text()[-3000:]
            time.sleep(1)
    assert not [e for e in backend.received if e["job"]["name"].startswith("refused_job")]
    assert len(backend.refused) == 20  # then its events were set aside, not tried again

    with DagsterInstance.from_config(str(home)) as instance:
        listed = _command(instance, backend, "dead-letters", "list")
        doctor = _command(instance, backend, "doctor")
        assert f"{REFUSED_RUNS * 22} dead letters of openlineage_sensor" in listed, listed[-500:]
        assert "set aside unsent (refused_job)" in doctor, doctor
        backend.refuse_jobs = set()  # the backend fixed
        started = time.monotonic()
        resent = _command(instance, backend, "dead-letters", "resend")
        took = time.monotonic() - started
        assert f"resent {REFUSED_RUNS * 22} of {REFUSED_RUNS * 22}" in resent, resent
        assert "0 dead letters" in _command(instance, backend, "dead-letters", "list")
    print(
        f"\n{REFUSED_RUNS + HEALTHY_RUNS} runs executed in {ran:.1f} s; resent "
        f"{REFUSED_RUNS * 22} letters of {REFUSED_RUNS} runs in {took:.1f} s"
    )
    refused = [e for e in backend.received if e["job"]["name"].startswith("refused_job")]
    assert len(refused) == REFUSED_RUNS * 22
    assert len({(e["run"]["runId"], e["eventType"]) for e in refused}) == REFUSED_RUNS * 22
    assert _completed(backend, "refused_job") == REFUSED_RUNS
    for event in backend.received:
        schemas.validate_event(event)


def _completed(backend: LineageBackend, job_name: str) -> int:
    return sum(
        e.get("eventType") == "COMPLETE" and e["job"]["name"] == job_name for e in backend.received
    )
