"""`ol-dagster-demo`: run example jobs on a throwaway Dagster instance and tick the sensor.

No server needed: unless OpenLineage is already configured, the events go to a JSON Lines file
through openlineage-python's file transport, and the demo prints what arrived there.
"""

# No `from __future__ import annotations` here: Dagster reads the ops' annotations at runtime.

import argparse
import json
import os
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetObservation,
    DagsterInstance,
    DailyPartitionsDefinition,
    Definitions,
    MaterializeResult,
    SensorDefinition,
    TableColumn,
    TableColumnDep,
    TableColumnLineage,
    TableSchema,
    asset,
    asset_check,
    build_sensor_context,
    define_asset_job,
    job,
    op,
)

from ol_dagster.app.container import Container
from ol_dagster.domain.errors import NothingConfigured, OlDagsterError
from ol_dagster.entry.sensor import openlineage_sensor

MAX_TICKS = 100
PAGE_SIZE = 25
# Dagster's console logger would print every step of every run; the demo prints its own summary.
QUIET_RUN_CONFIG: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
_EMITTED = re.compile(r"emitted (\d+) events")
EVENT_TYPES = ("START", "RUNNING", "COMPLETE", "FAIL", "ABORT", "OTHER", "DATASET")


# --- the example jobs ------------------------------------------------------------------------


@op
def extract_orders() -> list[dict[str, Any]]:
    return [
        {"order_id": 1, "amount": 120.0},
        {"order_id": 2, "amount": -5.0},
        {"order_id": 3, "amount": 42.5},
    ]


@op
def clean_orders(orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [order for order in orders if order["amount"] > 0]


@op
def load_warehouse(orders: list[dict[str, Any]]) -> int:
    return len(orders)


@job
def daily_sales() -> None:
    """Extracts orders, drops the invalid ones and loads the rest."""
    load_warehouse(clean_orders(extract_orders()))


@op
def fetch_customers() -> list[str]:
    return ["ada@example.com", "", "grace@example.com"]


@op
def push_to_crm(customers: list[str]) -> int:
    missing = sum(1 for email in customers if not email)
    raise RuntimeError(f"the CRM refused the batch: {missing} customer(s) without an email address")


@job
def customer_sync() -> None:
    """Always fails, in `push_to_crm`."""
    push_to_crm(fetch_customers())


# --- the example assets: where the dataset lineage comes from -------------------------------


@asset(
    metadata={"dagster/uri": "s3://demo-lake/raw/orders.parquet"},
    description="Orders as the shop exports them.",
    owners=["team:sales-data"],
    kinds={"s3"},
)
def raw_orders() -> MaterializeResult[Any]:
    schema = TableSchema(columns=[TableColumn("id", "int"), TableColumn("amount", "float")])
    return MaterializeResult(metadata={"dagster/row_count": 3, "dagster/column_schema": schema})


@asset(
    deps=[raw_orders],
    metadata={"dagster/table_name": "demo.sales.orders"},
    description="Valid orders, in the warehouse.",
    kinds={"bigquery"},
)
def orders(context: AssetExecutionContext) -> MaterializeResult[Any]:
    # the exchange rates used, as observed (an external asset: observed, not written)
    context.log_event(
        AssetObservation(
            asset_key="exchange_rates",
            metadata={"dagster/uri": "https://rates.example.com/daily.json", "rates": 31},
        )
    )
    lineage = TableColumnLineage(
        deps_by_column={
            "order_id": [TableColumnDep(asset_key=raw_orders.key, column_name="id")],
            "amount_eur": [TableColumnDep(asset_key=raw_orders.key, column_name="amount")],
        }
    )
    return MaterializeResult(metadata={"dagster/row_count": 2, "dagster/column_lineage": lineage})


@asset_check(asset=orders, description="No order has a negative amount.")
def orders_amounts_positive() -> AssetCheckResult:
    return AssetCheckResult(passed=False, metadata={"negative_rows": 1})  # fails, on purpose


@asset(
    deps=[orders],
    partitions_def=DailyPartitionsDefinition(start_date="2026-01-01"),
    description="Revenue of one day.",
)
def daily_revenue() -> MaterializeResult[Any]:
    return MaterializeResult(metadata={"dagster/row_count": 1})


sales_assets = define_asset_job("sales_assets", selection=[raw_orders, orders])
revenue = define_asset_job("revenue", selection=[daily_revenue])
DEMO_PARTITION = "2026-12-01"


def demo_definitions(*sensors: SensorDefinition) -> Definitions:
    return Definitions(
        assets=[raw_orders, orders, daily_revenue],
        asset_checks=[orders_amounts_positive],
        jobs=[daily_sales, customer_sync, sales_assets, revenue],
        sensors=list(sensors),
    )


# --- the demo --------------------------------------------------------------------------------


class DemoError(Exception):
    """A failure the demo reports in one line on stderr."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="ol-dagster-demo",
        description=(
            "Run example Dagster jobs on a temporary SQLite instance, tick the ol-dagster sensor "
            "as the Dagster daemon would, and summarise the OpenLineage events it sent."
        ),
    )
    parser.add_argument(
        "--events-file",
        type=Path,
        default=Path("ol-demo-events.jsonl"),
        metavar="PATH",
        help="where the events are written, one JSON per line (default: %(default)s)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=3,
        metavar="N",
        help="successful runs of the daily_sales job (default: %(default)s)",
    )
    parser.add_argument(
        "--keep-home",
        action="store_true",
        help="keep the temporary DAGSTER_HOME and print its path",
    )
    args = parser.parse_args(argv)
    if args.runs < 0:
        parser.error(f"--runs must not be negative, not {args.runs}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run_demo(events_file=args.events_file.resolve(), runs=args.runs, keep_home=args.keep_home)
    except (DemoError, OlDagsterError) as error:  # a setup the user can fix: one line
        print(f"ol-dagster-demo: failed: {error}", file=sys.stderr)
        return 1
    # Anything else (Dagster, the OpenLineage client, the file) is reported the same way.
    except Exception as error:  # noqa: BLE001
        print(f"ol-dagster-demo: failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


def _users_transport() -> str | None:
    """The transport the user's OpenLineage configuration resolves to; None when it names none
    (the demo then writes to a file)."""
    try:
        container = Container()
        client = container.openlineage_client()
    except NothingConfigured as error:
        if error.reason:  # settings that meant a transport, and are not one: say so
            print(f"Your OpenLineage settings name no transport{error.reason}.", flush=True)
        return None
    try:
        description: str = container.transport_description(client.transport)
        return description
    finally:
        client.close()  # the sensor builds its own


def run_demo(*, events_file: Path, runs: int, keep_home: bool) -> None:
    user_config = _users_transport()
    with dagster_home(keep_home) as home, DagsterInstance.from_config(str(home)) as instance:
        where = "kept" if keep_home else "removed at exit"
        print(f"Dagster instance: default SQLite storage in {home} ({where})")
        for _ in range(runs):
            result = daily_sales.execute_in_process(
                instance=instance, run_config=QUIET_RUN_CONFIG, raise_on_error=False
            )
            if not result.success:
                raise DemoError(f"the daily_sales run {result.run_id} failed unexpectedly")
        result = customer_sync.execute_in_process(
            instance=instance, run_config=QUIET_RUN_CONFIG, raise_on_error=False
        )
        if result.success:
            raise DemoError(f"the customer_sync run {result.run_id} should have failed")
        # a short budget: against a backend that does not answer, the demo says so in seconds
        sensor = openlineage_sensor(record_filter_limit=PAGE_SIZE, tick_budget_seconds=5)
        defs = demo_definitions(sensor)
        defs.resolve_job_def("sales_assets").execute_in_process(
            instance=instance, run_config=QUIET_RUN_CONFIG
        )
        defs.resolve_job_def("revenue").execute_in_process(
            instance=instance, run_config=QUIET_RUN_CONFIG, partition_key=DEMO_PARTITION
        )
        print(
            f"Ran daily_sales {_plural(runs, 'time')} (succeeded), customer_sync once (failed, "
            f"on purpose), and the assets: sales_assets (its check fails, on purpose) and "
            f"revenue for {DEMO_PARTITION}."
        )

        if user_config is None:
            print(f"OpenLineage transport: file {events_file} (set by the demo)", flush=True)
            events_file.parent.mkdir(parents=True, exist_ok=True)
            events_file.unlink(missing_ok=True)
            with file_transport(events_file):
                messages = tick_until_caught_up(sensor, defs, instance)
        else:
            print(f"OpenLineage transport: yours, {user_config}", flush=True)
            try:
                messages = tick_until_caught_up(sensor, defs, instance)
            except OlDagsterError as error:
                raise DemoError(
                    f"{error}. The events go to your OpenLineage transport ({user_config}): "
                    "start its backend, or unset it to have the demo write them to a file."
                ) from None

    emitted = sum(int(match.group(1)) for m in messages if (match := _EMITTED.search(m)))
    print(f"Sensor: caught up after {_plural(len(messages), 'tick')}, sent {emitted} events.")
    if user_config is None:
        events = read_events(events_file)
        print()
        print(summarise(events))
        print()
        print(lineage_tree(events))
        print()
        print(f"Events file: {events_file}")
    else:
        print(f"The events went to your OpenLineage transport, not to {events_file}.")
    if keep_home:
        print(f"DAGSTER_HOME kept: {home}")


@contextmanager
def dagster_home(keep: bool) -> Iterator[Path]:
    """A fresh DAGSTER_HOME with Dagster's default (SQLite) storage; removed unless `keep`."""
    if keep:
        home = Path(tempfile.mkdtemp(prefix="ol-dagster-demo-"))
        _write_dagster_yaml(home)
        yield home
        return
    with tempfile.TemporaryDirectory(prefix="ol-dagster-demo-") as folder:
        home = Path(folder)
        _write_dagster_yaml(home)
        yield home


def _write_dagster_yaml(home: Path) -> None:
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")


@contextmanager
def file_transport(path: Path) -> Iterator[None]:
    """OpenLineage's file transport, appending to `path`, for as long as the block runs."""
    settings = {
        "OPENLINEAGE__TRANSPORT__TYPE": "file",
        # JSON-quoted: the client parses each value as JSON first, and a path can look like one.
        "OPENLINEAGE__TRANSPORT__LOG_FILE_PATH": json.dumps(str(path)),
        "OPENLINEAGE__TRANSPORT__APPEND": "true",
    }
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def tick_until_caught_up(
    sensor: SensorDefinition, defs: Definitions, instance: DagsterInstance
) -> list[str]:
    """Tick as the Dagster daemon does, carrying the cursor; the skip message of each tick."""
    cursor: str | None = None
    messages: list[str] = []
    for _ in range(MAX_TICKS):
        context = build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
        result = sensor.evaluate_tick(context)
        cursor = result.cursor
        message = result.skip_message or ""
        messages.append(message)
        if "stopped:" in message:
            raise DemoError(f"tick {len(messages)}: {message}")
        if "caught up" in message:
            return messages
    raise DemoError(f"the sensor had not caught up after {MAX_TICKS} ticks: {messages[-1]}")


def read_events(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DemoError(f"no events were written to {path}")
    events: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise DemoError(f"{path}:{number} is not one JSON event: {error}") from None
    return events


def summarise(events: Sequence[dict[str, Any]]) -> str:
    """Events by type, and one line per job run: its final state and how many step runs."""
    by_type = Counter(event.get("eventType", "DATASET") for event in events)
    order = {event_type: index for index, event_type in enumerate(EVENT_TYPES)}
    lines = [f"{len(events)} OpenLineage events:"]
    for event_type in sorted(by_type, key=lambda name: (order.get(name, len(order)), name)):
        lines.append(f"  {event_type:<9} {by_type[event_type]}")

    job_runs: dict[str, tuple[str, str]] = {}  # run id -> (job name, latest event type)
    steps: dict[str, dict[str, tuple[str, str]]] = {}  # job run id -> step run id -> same
    for event in events:
        if "run" not in event:
            continue  # a dataset event: an observation, not a run
        run_id, name, state = event["run"]["runId"], event["job"]["name"], event["eventType"]
        parent = event["run"].get("facets", {}).get("parent")
        if parent is None:
            job_runs[run_id] = (name, state)
        else:
            steps.setdefault(parent["run"]["runId"], {})[run_id] = (name, state)
    width = max((len(name) for name, _ in job_runs.values()), default=0)
    lines.append(f"{len(job_runs)} job runs (job, final state, step runs, run id):")
    for run_id, (name, state) in job_runs.items():
        step_runs = steps.get(run_id, {})
        line = f"  {name:<{width}}  {state:<8}  {len(step_runs)} step runs  {run_id}"
        failed = [step.removeprefix(f"{name}.") for step, s in step_runs.values() if s == "FAIL"]
        if failed:
            line += f"  failed step: {', '.join(failed)}"
        lines.append(line)
    return "\n".join(lines)


def lineage_tree(events: Sequence[dict[str, Any]]) -> str:
    """The lineage the events carry, as a person reads it: each dataset with the job runs that
    read it below it, each job with the datasets it wrote below it."""
    read_by: dict[str, set[str]] = {}  # dataset -> jobs that read it
    wrote: dict[str, set[str]] = {}  # job -> datasets it wrote
    marks: dict[str, set[str]] = {}  # dataset or job -> what to say of it
    for event in events:
        if "run" not in event:  # an observation
            observed = _dataset(event["dataset"])
            marks.setdefault(observed, set()).add("observed")
            read_by.setdefault(observed, set())
            continue
        if "parent" not in event["run"].get("facets", {}):
            continue  # a job run repeats its steps' datasets: its steps say who did what
        job = event["job"]["name"]
        if event["eventType"] == "FAIL":
            marks.setdefault(job, set()).add("FAILED")
        for dataset in event.get("inputs") or ():
            read_by.setdefault(_dataset(dataset), set()).add(job)
            assertions = dataset.get("inputFacets", {}).get("dataQualityAssertions", {})
            for check in assertions.get("assertions", ()):
                if not check.get("success", True):
                    marks.setdefault(job, set()).add(f"check {check['assertion']} FAILED")
        for dataset in event.get("outputs") or ():
            name = _dataset(dataset)
            wrote.setdefault(job, set()).add(name)
            stats = dataset.get("outputFacets", {}).get("outputStatistics", {})
            if "rowCount" in stats:
                marks.setdefault(name, set()).add(f"{stats['rowCount']} rows")
            subset = dataset.get("outputFacets", {}).get("subset", {})
            for part in subset.get("outputCondition", {}).get("partitions", ()):
                marks.setdefault(name, set()).add(f"partition {part['identifier']}")
    written = {name for names in wrote.values() for name in names}
    readers = {job for jobs in read_by.values() for job in jobs}
    roots = sorted(name for name in read_by if name not in written)
    roots += sorted(job for job in wrote if job not in readers)
    lines = ["Lineage sent (dataset -> job that read it -> dataset it wrote):"]
    seen: set[str] = set()

    def walk(node: str, prefix: str, last: bool, top: bool) -> None:
        children = sorted(read_by.get(node, set()) | wrote.get(node, set()))
        mark = ", ".join(sorted(marks.get(node, ())))
        text = f"{node}  [{mark}]" if mark else node
        branch = "" if top else ("└─ " if last else "├─ ")
        if node in seen and children:
            lines.append(f"{prefix}{branch}{text}  (see above)")
            return
        seen.add(node)
        lines.append(f"{prefix}{branch}{text}")
        below = prefix if top else prefix + ("   " if last else "│  ")
        for index, child in enumerate(children):
            walk(child, below, index == len(children) - 1, False)

    for root in roots:
        walk(root, "  ", True, True)
    return "\n".join(lines)


def _dataset(dataset: dict[str, Any]) -> str:
    namespace, name = dataset["namespace"], dataset["name"]
    return namespace + name if name.startswith("/") else f"{namespace}/{name}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


if __name__ == "__main__":
    raise SystemExit(main())
