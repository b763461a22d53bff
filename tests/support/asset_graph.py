"""An example asset graph that exercises every kind of asset lineage ol-dagster reports."""

from dagster import (
    AssetCheckResult,
    AssetKey,
    AssetOut,
    CodeReferencesMetadataValue,
    DailyPartitionsDefinition,
    DataVersion,
    Definitions,
    LocalFileCodeReference,
    MaterializeResult,
    ObserveResult,
    StaticPartitionsDefinition,
    TableColumn,
    TableColumnDep,
    TableColumnLineage,
    TableSchema,
    asset,
    asset_check,
    define_asset_job,
    multi_asset,
    observable_source_asset,
)

REGIONS = StaticPartitionsDefinition(["emea", "apac"])


@asset(
    metadata={
        "dagster/uri": "s3://sales-lake/raw/orders.parquet",
        "dagster/code_references": CodeReferencesMetadataValue(
            code_references=[LocalFileCodeReference(file_path=__file__, line_number=30)]
        ),
    },
    owners=["team:data-platform", "ada@example.com"],
    description="Orders as exported by the shop.",
    tags={"domain": "sales"},
    kinds={"s3"},
)
def raw_orders() -> MaterializeResult:
    schema = TableSchema(columns=[TableColumn("id", "int"), TableColumn("amount", "float")])
    return MaterializeResult(metadata={"dagster/row_count": 3, "dagster/column_schema": schema})


@asset(
    deps=[raw_orders], metadata={"dagster/table_name": "analytics.sales.orders"}, kinds={"bigquery"}
)
def orders() -> MaterializeResult:
    lineage = TableColumnLineage(
        deps_by_column={"order_id": [TableColumnDep(asset_key=raw_orders.key, column_name="id")]}
    )
    return MaterializeResult(metadata={"dagster/row_count": 2, "dagster/column_lineage": lineage})


@asset_check(asset=orders, description="Amounts are positive.")
def orders_amounts_positive() -> AssetCheckResult:
    return AssetCheckResult(passed=False, metadata={"negative_rows": 1})


@multi_asset(
    outs={"daily_revenue": AssetOut(), "daily_count": AssetOut()},
    deps=[orders],
)
def daily_stats() -> tuple[MaterializeResult, MaterializeResult]:
    return (
        MaterializeResult(asset_key="daily_revenue", metadata={"dagster/row_count": 1}),
        MaterializeResult(asset_key="daily_count", metadata={"dagster/row_count": 1}),
    )


@asset(partitions_def=REGIONS, deps=[orders], key_prefix=["reports"])
def regional_report() -> None:
    return None


@asset(deps=[orders])
def broken_forecast() -> None:
    raise ValueError("forecast model missing")


@asset(partitions_def=DailyPartitionsDefinition(start_date="2026-11-01"), deps=[orders])
def daily_snapshot() -> None:
    return None


@observable_source_asset(
    metadata={"dagster/uri": "s3://vendor-drop/feed.csv"}, description="The vendor's daily feed."
)
def vendor_feed() -> ObserveResult:
    """An external asset, observed (`observe([vendor_feed], ...)`) rather than materialized."""
    return ObserveResult(data_version=DataVersion("v7"), metadata={"dagster/row_count": 10})


sales_job = define_asset_job(
    "sales_job",
    selection=["raw_orders", "orders", "daily_revenue", "daily_count"],
    description="Loads the shop's orders and derives daily figures.",
)
snapshot_job = define_asset_job("snapshot_job", selection=["daily_snapshot"])
report_job = define_asset_job("report_job", selection=[AssetKey(["reports", "regional_report"])])
forecast_job = define_asset_job("forecast_job", selection=["broken_forecast"])

ASSETS = [raw_orders, orders, daily_stats, regional_report, broken_forecast, daily_snapshot]
CHECKS = [orders_amounts_positive]
JOBS = [sales_job, report_job, forecast_job, snapshot_job]


def definitions(*extra_sensors: object) -> Definitions:
    return Definitions(assets=ASSETS, asset_checks=CHECKS, jobs=JOBS, sensors=list(extra_sensors))  # type: ignore[arg-type]
