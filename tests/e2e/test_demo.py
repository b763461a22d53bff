"""`ol-dagster-demo` end to end: real runs on SQLite, the sensor ticked, events in a file."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from ol_dagster.entry.demo import main
from tests.support.schemas import OpenLineageSchemas

DAILY_SALES = [
    ("START", "daily_sales"),
    ("START", "daily_sales.extract_orders"),
    ("COMPLETE", "daily_sales.extract_orders"),
    ("START", "daily_sales.clean_orders"),
    ("COMPLETE", "daily_sales.clean_orders"),
    ("START", "daily_sales.load_warehouse"),
    ("COMPLETE", "daily_sales.load_warehouse"),
    ("COMPLETE", "daily_sales"),
]
CUSTOMER_SYNC = [
    ("START", "customer_sync"),
    ("START", "customer_sync.fetch_customers"),
    ("COMPLETE", "customer_sync.fetch_customers"),
    ("START", "customer_sync.push_to_crm"),
    ("FAIL", "customer_sync.push_to_crm"),
    ("FAIL", "customer_sync"),
]

ASSETS = [
    ("START", "sales_assets"),
    ("START", "sales_assets.raw_orders"),
    ("RUNNING", "sales_assets.raw_orders"),
    ("COMPLETE", "sales_assets.raw_orders"),
    ("START", "sales_assets.orders"),
    ("DATASET", "https://rates.example.com"),  # the observation the step logs
    ("RUNNING", "sales_assets.orders"),
    ("COMPLETE", "sales_assets.orders"),
    ("START", "sales_assets.orders_orders_amounts_positive"),
    ("RUNNING", "sales_assets.orders_orders_amounts_positive"),
    ("COMPLETE", "sales_assets.orders_orders_amounts_positive"),
    ("COMPLETE", "sales_assets"),
    ("START", "revenue"),
    ("START", "revenue.daily_revenue"),
    ("RUNNING", "revenue.daily_revenue"),
    ("COMPLETE", "revenue.daily_revenue"),
    ("COMPLETE", "revenue"),
]
TREE = """Lineage sent (dataset -> job that read it -> dataset it wrote):
  https://rates.example.com/daily.json  [observed]
  sales_assets.raw_orders
  └─ s3://demo-lake/raw/orders.parquet  [3 rows]
     └─ sales_assets.orders
        └─ bigquery/demo.sales.orders  [2 rows]
           ├─ revenue.daily_revenue
           │  └─ dagster/daily_revenue  [1 rows, partition 2026-12-01]
           └─ sales_assets.orders_orders_amounts_positive  [check orders_amounts_positive FAILED]
"""


def _kind(event: dict[str, Any]) -> tuple[str, str]:
    if "run" in event:
        return (event["eventType"], event["job"]["name"])
    return ("DATASET", event["dataset"]["namespace"])


@pytest.fixture
def no_openlineage_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No OpenLineage settings from the environment, ./openlineage.yml or ~/.openlineage."""
    for name in list(os.environ):
        if name.startswith("OPENLINEAGE"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))


@pytest.mark.usefixtures("no_openlineage_config")
def test_demo_writes_every_event_to_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], schemas: OpenLineageSchemas
) -> None:
    events_file = tmp_path / "events.jsonl"
    events_file.write_text("a stale line from an earlier run\n")

    assert main(["--events-file", str(events_file), "--runs", "2"]) == 0

    lines = events_file.read_text().splitlines()
    events = [json.loads(line) for line in lines]  # one JSON event per line
    assert [_kind(e) for e in events] == DAILY_SALES + DAILY_SALES + CUSTOMER_SYNC + ASSETS
    for event in events:
        schemas.validate_event(event)
    out = capsys.readouterr().out
    assert "39 OpenLineage events" in out
    assert TREE in out  # the asset lineage, at a glance
    failed_run = next(e["run"]["runId"] for e in events if e["job"]["name"] == "customer_sync")
    assert any(
        "customer_sync" in line and "FAIL" in line and failed_run in line and "push_to_crm" in line
        for line in out.splitlines()
    ), out
    assert str(events_file) in out
    # the demo leaves the environment as it found it
    assert not [name for name in os.environ if name.startswith("OPENLINEAGE")]


def test_demo_against_a_backend_that_does_not_answer_says_so_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("OPENLINEAGE_URL", f"http://127.0.0.1:{closed}")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__RETRY__TOTAL", "0")
    assert main(["--events-file", str(tmp_path / "events.jsonl"), "--runs", "1"]) == 1
    [line] = [x for x in capsys.readouterr().err.splitlines() if x.startswith("ol-dagster-demo")]
    assert "records to send again" in line  # not "read 0 records ... lag 0"
    assert "did not accept events" in line
    assert "start its backend, or unset it" in line
