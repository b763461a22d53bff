"""A deployment's shape: upstream assets in one code location, assets depending on them in another,
the lineage sensor alone in a third; `dagster dev` (the real webserver and daemon) runs them all.

The sensor's own location holds none of the assets: it reads their definitions from the
webserver's GraphQL API (OL_DAGSTER_GRAPHQL_URL). Then `ol-dagster replay` and `tail`, given the
same workspace (`-w`, loaded in their own process), must send what the sensor sent: the event
streams are compared whole, not against a hand-made expectation.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from tests.support.backend import LineageBackend, running_backend
from tests.support.dagster_processes import (
    BIN,
    ROOT,
    free_port,
    new_dagster_home,
    running,
    wait_for_locations,
    write_workspace,
)
from tests.support.schemas import OpenLineageSchemas

LOCATIONS = ["upstream", "downstream", "lineage"]
DEADLINE_SECONDS = 150


def _launch(env: dict[str, str], workspace: Path, location: str, job: str, *extra: str) -> None:
    command = [str(BIN / "dagster"), "job", "launch", "-w", str(workspace), "-l", location]
    done = subprocess.run(
        [*command, "-j", job, *extra], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _wait_for_success(home: Path, job: str) -> None:
    """Until a run of `job` has succeeded (the next job reads what it wrote)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    with DagsterInstance.from_config(str(home)) as instance:
        while time.monotonic() < deadline:
            runs = instance.get_runs(filters=RunsFilter(job_name=job))
            assert all(run.status is not DagsterRunStatus.FAILURE for run in runs), job
            if any(run.status is DagsterRunStatus.SUCCESS for run in runs):
                return
            time.sleep(0.5)
    raise AssertionError(f"no run of {job} succeeded within {DEADLINE_SECONDS} s")


def _wait_for_events(backend: LineageBackend, jobs: set[str]) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        done = {e["job"]["name"] for e in backend.received if e["eventType"] == "COMPLETE"}
        if jobs <= done:
            return
        time.sleep(1)
    raise AssertionError(f"the sensor never completed {sorted(jobs)}")


def _materialized(events: list[dict[str, Any]], job: str) -> dict[str, Any]:
    [event] = [e for e in events if e["eventType"] == "RUNNING" and e["job"]["name"] == job]
    return event


def _ids(datasets: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in datasets]


def _canonical(events: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(e, sort_keys=True) for e in events)


def test_a_sensor_with_no_assets_names_inputs_as_their_outputs_and_replay_agrees(
    tmp_path: Path, backend: LineageBackend, schemas: OpenLineageSchemas
) -> None:
    workspace = write_workspace(tmp_path / "workspace.yaml", LOCATIONS)
    home = new_dagster_home(tmp_path / "dagster_home")
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENLINEAGE", "OL_"))}
    env = base | {"DAGSTER_HOME": str(home), "OPENLINEAGE_URL": backend.url}
    sensor_env = env | {
        "OL_DAGSTER_GRAPHQL_URL": f"http://127.0.0.1:{port}/graphql",
        "OL_DAGSTER_TEST_SENSOR_INTERVAL": "2",
    }
    log = tmp_path / "dagster.log"
    command = [str(BIN / "dagster"), "dev", "-w", str(workspace), "-p", str(port)]
    with running(command, ROOT, sensor_env, log):
        wait_for_locations(port, LOCATIONS, log)
        _launch(env, workspace, "upstream", "sales_job")
        _wait_for_success(home, "sales_job")
        _launch(env, workspace, "downstream", "downstream_job")
        _launch(
            env, workspace, "downstream", "regional_job", "--tags", '{"dagster/partition": "emea"}'
        )
        _wait_for_events(backend, {"sales_job", "downstream_job", "regional_job"})
    sent = list(backend.received)
    for event in sent:
        schemas.validate_event(event)
    assert {e["job"]["namespace"] for e in sent} == {"upstream", "downstream"}

    # the downstream location's inputs are named exactly as the upstream runs' outputs, versions too
    raw_orders = _materialized(sent, "sales_job.raw_orders")["outputs"]
    orders = _materialized(sent, "sales_job.orders")["outputs"]
    assert _ids(raw_orders) == [("s3://sales-lake", "raw/orders.parquet")]
    assert _ids(orders) == [("bigquery", "analytics.sales.orders")]
    summary = _materialized(sent, "downstream_job.order_summary")
    assert _ids(summary["inputs"]) == _ids(orders)
    assert summary["inputs"][0]["facets"]["version"] == orders[0]["facets"]["version"]
    [split] = [
        e
        for e in sent
        if e["eventType"] == "RUNNING"
        and e["job"]["name"] == "downstream_job.split_orders"
        and _ids(e["outputs"]) == [("dagster", "big_orders")]
    ]
    assert _ids(split["inputs"]) == _ids(raw_orders)
    assert split["inputs"][0]["facets"]["version"] == raw_orders[0]["facets"]["version"]
    regional = _materialized(sent, "regional_job.regional_summary")
    assert _ids(regional["inputs"]) == _ids(summary["outputs"])

    # the same instance replayed from the same workspace (`-w`, loaded in process): the same
    # events received, byte for byte once parsed
    with running_backend() as second:
        replayed = _ol_dagster(
            env | {"OPENLINEAGE_URL": second.url},
            ["replay", "--from-storage-id", "0", "--state-file", str(tmp_path / "replay.json")],
            workspace,
        )
        assert _differences(second.received, sent) == ([], []), replayed.stderr
        assert _canonical(second.received) == _canonical(sent)
    # and `tail --dry-run` prints them, less what the client adds when it sends (its version tag)
    tailed = _ol_dagster(
        env, ["tail", "--dry-run", "--after-storage-id", "0", "--max-ticks", "1"], workspace
    )
    printed = [json.loads(line) for line in tailed.stdout.splitlines() if line.strip()]
    assert _differences(printed, [_unsent(e) for e in sent]) == ([], [])

    # given no definitions, a command names assets by their keys: the names the sensor's
    # datasets link to (symlinks), and it says so and how to do better, in one line
    bare = _ol_dagster(
        env, ["tail", "--dry-run", "--after-storage-id", "0", "--max-ticks", "1"], None, home
    )
    [note] = [line for line in bare.stderr.splitlines() if line.startswith("note: ")]
    assert "assets not defined in the code locations given" in note
    assert "set OL_DAGSTER_GRAPHQL_URL" in note
    keyed = _materialized(
        [json.loads(line) for line in bare.stdout.splitlines()], summary["job"]["name"]
    )
    [link] = summary["inputs"][0]["facets"]["symlinks"]["identifiers"]
    assert _ids(keyed["inputs"]) == [(link["namespace"], link["name"])] == [("dagster", "orders")]


def _ol_dagster(
    env: dict[str, str], args: list[str], workspace: Path | None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(BIN / "ol-dagster"), *args, *(["-w", str(workspace)] if workspace else [])],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _differences(
    these: list[dict[str, Any]], those: list[dict[str, Any]]
) -> tuple[list[str], list[str]]:
    """What each stream has that the other lacks (empty, empty: the same events)."""
    mine, theirs = _canonical(these), _canonical(those)
    return sorted(set(mine) - set(theirs)), sorted(set(theirs) - set(mine))


def _unsent(event: dict[str, Any]) -> dict[str, Any]:
    """The event before the OpenLineage client added its own run tags on sending it."""
    copy = json.loads(json.dumps(event))
    tags = copy["run"].get("facets", {}).get("tags")
    if tags is not None:
        tags["tags"] = [t for t in tags["tags"] if t["source"] != "OPENLINEAGE_CLIENT"]
        if not tags["tags"]:
            del copy["run"]["facets"]["tags"]
    return copy
