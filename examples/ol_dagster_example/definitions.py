"""An example code location with ol-dagster's sensor: `dagster dev -w examples/workspace.yaml`.

Its jobs and assets send their lineage to the backend in OPENLINEAGE_URL (or wherever
openlineage.yml says). The sensor runs as soon as the location loads.
"""

import os
from typing import Any

from dagster import (
    AssetCheckResult,
    Definitions,
    MaterializeResult,
    TableColumn,
    TableSchema,
    asset,
    asset_check,
    define_asset_job,
    job,
    op,
)

from ol_dagster import openlineage_sensor


@op
def extract_orders() -> list[dict[str, Any]]:
    return [{"id": 1, "amount": 120.0}, {"id": 2, "amount": -5.0}, {"id": 3, "amount": 42.5}]


@op
def keep_valid(orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [order for order in orders if order["amount"] > 0]


@op
def load_orders(orders: list[dict[str, Any]]) -> int:
    return len(orders)


@job(description="Loads the day's valid orders.")
def daily_orders() -> None:
    load_orders(keep_valid(extract_orders()))


@asset(
    metadata={"dagster/uri": "s3://example-lake/raw/customers.parquet"},
    owners=["team:data-platform"],
    description="Customers as exported by the CRM.",
)
def raw_customers() -> MaterializeResult:
    schema = TableSchema(columns=[TableColumn("id", "int"), TableColumn("email", "string")])
    return MaterializeResult(metadata={"dagster/row_count": 3, "dagster/column_schema": schema})


@asset(deps=[raw_customers], description="Customers with a usable email address.")
def customers() -> MaterializeResult:
    return MaterializeResult(metadata={"dagster/row_count": 2})


@asset_check(asset=customers)
def customers_have_emails() -> AssetCheckResult:
    return AssetCheckResult(passed=True)


defs = Definitions(
    jobs=[daily_orders, define_asset_job("customers_job", selection=[raw_customers, customers])],
    assets=[raw_customers, customers],
    asset_checks=[customers_have_emails],
    sensors=[
        openlineage_sensor(
            minimum_interval_seconds=int(os.environ.get("OL_DAGSTER_EXAMPLE_SENSOR_INTERVAL", "30"))
        )
    ],
)
