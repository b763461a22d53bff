"""A code location whose assets read another location's (`deps` on `AssetSpec` and `AssetKey`):
it defines none of its upstream assets."""

from dagster import (
    AssetKey,
    AssetOut,
    AssetSpec,
    Definitions,
    MaterializeResult,
    StaticPartitionsDefinition,
    asset,
    define_asset_job,
    multi_asset,
)


@asset(deps=[AssetSpec("orders")], description="Orders per day.", owners=["bob@example.com"])
def order_summary() -> MaterializeResult:
    return MaterializeResult(metadata={"dagster/row_count": 1})


@multi_asset(
    outs={"big_orders": AssetOut(), "small_orders": AssetOut()}, deps=[AssetKey("raw_orders")]
)
def split_orders() -> tuple[MaterializeResult, MaterializeResult]:
    return (
        MaterializeResult(asset_key="big_orders", metadata={"dagster/row_count": 1}),
        MaterializeResult(asset_key="small_orders", metadata={"dagster/row_count": 2}),
    )


@asset(partitions_def=StaticPartitionsDefinition(["emea", "apac"]), deps=[order_summary])
def regional_summary() -> None:
    return None


downstream_job = define_asset_job(
    "downstream_job", selection=["order_summary", "big_orders", "small_orders"]
)
regional_job = define_asset_job("regional_job", selection=["regional_summary"])

defs = Definitions(
    assets=[order_summary, split_orders, regional_summary], jobs=[downstream_job, regional_job]
)
