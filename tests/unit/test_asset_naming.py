"""Dataset names from Dagster asset metadata, as the OpenLineage naming conventions say."""

from __future__ import annotations

from typing import Any

import pytest
from dagster import AssetKey, AssetSpec, Definitions, MetadataValue, asset

from ol_dagster.adapters.asset_catalog import AssetCatalog
from ol_dagster.adapters.dagster_definitions import RepositoryDefinitions
from ol_dagster.domain.datasets import DatasetId


def _catalog(
    metadata: dict[str, Any], kinds: set[str] | None = None, **settings: Any
) -> AssetCatalog:
    spec = AssetSpec(key=AssetKey(["sales", "orders"]), metadata=metadata, kinds=kinds)
    repository = Definitions(assets=[spec]).get_repository_def()
    return AssetCatalog(RepositoryDefinitions([repository]), **settings)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://lake/raw/orders.parquet", DatasetId("s3://lake", "raw/orders.parquet")),
        ("gs://lake/raw/orders", DatasetId("gs://lake", "raw/orders")),
        (
            "abfss://c@acct.dfs.core.windows.net/x/y",
            DatasetId("abfss://c@acct.dfs.core.windows.net", "x/y"),
        ),
        ("file:///data/orders.csv", DatasetId("file", "/data/orders.csv")),
        ("file://localhost/data/orders.csv", DatasetId("file", "/data/orders.csv")),
        # a share on another host keeps its host (OpenLineage's remote file system)
        ("file://filer/exports/orders.csv", DatasetId("file://filer", "/exports/orders.csv")),
        (
            "wasbs://c@acct.blob.core.windows.net/x/y",
            DatasetId("wasbs://c@acct.blob.core.windows.net", "x/y"),
        ),
        ("/data/orders.csv", DatasetId("file", "/data/orders.csv")),
        (
            "hdfs://namenode:8020/warehouse/orders",
            DatasetId("hdfs://namenode:8020", "warehouse/orders"),
        ),
    ],
)
def test_a_uri_names_the_dataset_where_it_lives(uri: str, expected: DatasetId) -> None:
    dataset = _catalog({"dagster/uri": uri}).dataset(AssetKey(["sales", "orders"]))
    assert dataset.id == expected
    assert dataset.alias == DatasetId("dagster", "sales/orders")  # the symlink to its asset key


@pytest.mark.parametrize(
    "table_name",
    [
        "proj.sales.orders",
        # as BigQuery's SQL quotes a table: the quotes are not part of its name
        "`proj.sales.orders`",
        "`proj`.sales.`orders`",
        " proj.sales.orders ",
    ],
)
def test_a_bigquery_table_needs_no_configuration(table_name: str) -> None:
    catalog = _catalog({"dagster/table_name": table_name}, kinds={"bigquery"})
    assert catalog.dataset(AssetKey(["sales", "orders"])).id == DatasetId(
        "bigquery", "proj.sales.orders"
    )


def test_a_bigquery_name_of_other_parts_loses_its_quotes_too() -> None:
    catalog = _catalog({"dagster/table_name": "`sales`.orders"}, kinds={"bigquery"})
    assert catalog.dataset(AssetKey(["sales", "orders"])).id == DatasetId(
        "bigquery", "sales.orders"
    )


def test_a_table_of_a_configured_storage_kind_takes_its_namespace() -> None:
    catalog = _catalog(
        {"dagster/table_name": "shop.public.orders"},
        kinds={"postgres"},
        storage_namespaces={"postgres": "postgres://db.internal:5432"},
    )
    dataset = catalog.dataset(AssetKey(["sales", "orders"]))
    assert dataset.id == DatasetId("postgres://db.internal:5432", "shop.public.orders")


def test_a_table_of_an_unconfigured_storage_keeps_its_asset_name() -> None:
    # Dagster does not record the host a postgres:// namespace needs: no guessing.
    catalog = _catalog({"dagster/table_name": "shop.public.orders"}, kinds={"postgres"})
    dataset = catalog.dataset(AssetKey(["sales", "orders"]))
    assert dataset.id == DatasetId("dagster", "sales/orders")
    assert dataset.alias is None


def test_an_asset_outside_the_code_location_is_named_after_its_key() -> None:
    catalog = AssetCatalog(None, asset_namespace="dagster://prod")
    assert catalog.dataset(AssetKey(["a", "b"])).id == DatasetId("dagster://prod", "a/b")
    assert catalog.inputs(AssetKey(["a", "b"]), {}) == ()


def test_inputs_logged_by_a_materialization_need_no_definition() -> None:
    catalog = AssetCatalog(None)
    [upstream] = catalog.inputs(AssetKey(["orders"]), {AssetKey(["raw", "orders"]): "v7"})
    assert (upstream.id, upstream.version) == (DatasetId("dagster", "raw/orders"), "v7")


def test_an_asset_of_another_location_is_named_from_its_event_when_it_says_where() -> None:
    catalog = AssetCatalog(None)
    dataset = catalog.materialized(
        AssetKey(["orders"]), {"dagster/uri": "s3://lake/orders.parquet"}, partition=None
    )
    assert dataset.id == DatasetId("s3://lake", "orders.parquet")
    assert dataset.alias == DatasetId("dagster", "orders")


def test_metadata_of_the_wrong_kind_is_no_schema_and_no_source() -> None:
    """A text where Dagster expects a table schema, a URL where it expects code references: the
    asset is still named and sent, without them."""
    catalog = _catalog({"dagster/uri": "s3://lake/raw/orders.parquet"})
    dataset = catalog.materialized(
        AssetKey(["sales", "orders"]),
        {
            "dagster/column_schema": MetadataValue.text("id int"),
            "dagster/code_references": MetadataValue.url("https://git.example/x.py"),
        },
        None,
    )
    assert dataset.columns == () and dataset.id == DatasetId("s3://lake", "raw/orders.parquet")


def test_the_location_that_materializes_an_asset_defines_it_whatever_the_order() -> None:
    declared = Definitions(assets=[AssetSpec(key=AssetKey(["x"]))]).get_repository_def()

    @asset(name="x", metadata={"dagster/uri": "s3://bucket/x"})
    def materialized() -> None:
        return None

    defined = Definitions(assets=[materialized]).get_repository_def()
    for order in ([declared, defined], [defined, declared]):
        facts = RepositoryDefinitions(order).asset(("x",))
        assert facts is not None and facts.uri == "s3://bucket/x"
