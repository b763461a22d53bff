"""No metadata value stops lineage: generated metadata of every `MetadataValue` kind, NaN,
infinite, huge and nested values and odd URIs, in an asset's definition and in its event, go
through the catalog, the translation and the encoding without raising, into events the official
schemas accept."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

from dagster import (
    AssetKey,
    AssetSpec,
    Definitions,
    MetadataValue,
    TableColumn,
    TableColumnDep,
    TableColumnLineage,
    TableSchema,
)
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ol_dagster.adapters.asset_catalog import AssetCatalog
from ol_dagster.adapters.dagster_definitions import RepositoryDefinitions
from ol_dagster.adapters.event_json import EventJsonWriter
from ol_dagster.domain.run_state import RunState
from ol_dagster.domain.translate import Translator
from tests.support.records import RunWriter
from tests.support.schemas import OpenLineageSchemas

KEYS = [
    "dagster/uri",
    "dagster/row_count",
    "dagster/size_bytes",
    "dagster/column_schema",
    "dagster/column_lineage",
    "dagster/table_name",
    "dagster/relation_identifier",
    "dagster/storage_kind",
    "dagster/code_references",
    "owner_notes",
]

_numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.just(10**400),
    st.floats(allow_nan=True, allow_infinity=True),
)
_uris = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "postgresql://u:S3cretPw@db.example.com:port/w",
            "s3://",
            "s3:///key",
            "http://[::1/x",
            "hdfs://nn:99999/p",
            "abfss://c@acct.dfs.core.windows.net",
            "file://",
            "gs://bucket",
            "snowflake://",
            "://",
            "\x00",
        ]
    ),
    st.builds(
        lambda scheme, host, port, path: f"{scheme}://{host}:{port}/{path}",
        st.sampled_from(["s3", "gs", "file", "hdfs", "postgres", "abfss", "bigquery", "x"]),
        st.text(max_size=10),
        st.one_of(st.integers(min_value=-5, max_value=10**6), st.text(max_size=4)),
        st.text(max_size=10),
    ),
)
_json = st.recursive(
    st.one_of(st.none(), st.booleans(), _numbers, st.text(max_size=10)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)
_names = st.text(min_size=1, max_size=12)
_asset_keys = st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=3).map(AssetKey)


def _value(kind: str, draw: Any) -> Any:
    """A value of one `MetadataValue` kind, or a raw value Dagster wraps itself."""
    makers: dict[str, Any] = {
        "text": lambda: MetadataValue.text(draw(st.text(max_size=20))),
        "url": lambda: MetadataValue.url(draw(_uris)),
        "path": lambda: MetadataValue.path(draw(_uris)),
        "notebook": lambda: MetadataValue.notebook(draw(st.text(max_size=20))),
        "md": lambda: MetadataValue.md(draw(st.text(max_size=20))),
        "json": lambda: MetadataValue.json(draw(st.dictionaries(st.text(max_size=5), _json))),
        "float": lambda: MetadataValue.float(draw(st.floats(allow_nan=True, allow_infinity=True))),
        "int": lambda: MetadataValue.int(draw(st.integers(min_value=-(2**80), max_value=2**80))),
        "bool": lambda: MetadataValue.bool(draw(st.booleans())),
        "null": lambda: MetadataValue.null(),
        "timestamp": lambda: MetadataValue.timestamp(draw(st.floats(0, 4e9))),
        "asset": lambda: MetadataValue.asset(draw(_asset_keys)),
        "job": lambda: MetadataValue.job(draw(_names), draw(_names)),
        "run": lambda: MetadataValue.dagster_run(draw(st.uuids()).hex),
        "python": lambda: MetadataValue.python_artifact(math.isfinite),
        "schema": lambda: MetadataValue.table_schema(
            TableSchema(
                columns=[
                    TableColumn(name, draw(st.text(min_size=1, max_size=6)))
                    for name in draw(st.lists(_names, max_size=4, unique=True))
                ]
            )
        ),
        "lineage": lambda: MetadataValue.column_lineage(
            TableColumnLineage(
                deps_by_column={
                    column: [TableColumnDep(draw(_asset_keys), draw(_names))]
                    for column in draw(st.lists(_names, max_size=3, unique=True))
                }
            )
        ),
        "raw number": lambda: draw(_numbers),
        "raw text": lambda: draw(_uris),
    }
    return makers[kind]()


@st.composite
def metadata(draw: Any) -> dict[str, Any]:
    chosen: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=len(KEYS))):
        kind = draw(st.sampled_from(list(_KINDS)))
        try:
            chosen[key] = _value(kind, draw)
        except Exception:  # a value Dagster itself refuses to build: no event can hold it
            assume(False)
    return chosen


_KINDS = [
    *("text", "url", "path", "notebook", "md", "json", "float", "int", "bool", "null"),
    *("timestamp", "asset", "job", "run", "python", "schema", "lineage", "raw number", "raw text"),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    definition=metadata(),
    logged=metadata(),
    kinds=st.sets(st.sampled_from(["bigquery", "postgres", "duckdb"])),
)
def test_no_metadata_value_stops_the_catalog_the_translation_or_the_encoding(
    definition: dict[str, Any],
    logged: dict[str, Any],
    kinds: set[str],
    schemas: OpenLineageSchemas,
) -> None:
    key = AssetKey(["sales", "orders"])
    try:
        spec = AssetSpec(key=key, metadata=definition, kinds=kinds)
        repository = Definitions(assets=[spec]).get_repository_def()
    except Exception:  # Dagster refuses the definition: no code location could hold it
        assume(False)
    catalog = AssetCatalog(
        RepositoryDefinitions([repository]), storage_namespaces={"postgres": "postgres://db:5432"}
    )
    materialized = catalog.materialized(key, logged, partition="2026-12-01", storage_id=7)
    observed = catalog.observed(key, logged, None, "v1", storage_id=8)
    upstream = catalog.inputs(key, {AssetKey(["raw"]): "v0"})

    run = RunWriter("sales_job", location="sales")
    run.write("RUN_START")
    run.write("STEP_START", "orders")
    asset_record = run.write("ASSET_MATERIALIZATION", "orders")
    run.records[-1] = replace(asset_record, datasets=(materialized,), upstream=upstream)
    observation = run.write("ASSET_OBSERVATION", "orders")
    run.records[-1] = replace(observation, datasets=(observed,))
    run.write("STEP_SUCCESS", "orders")
    run.write("RUN_SUCCESS")

    events, _, skipped = Translator("default").translate_all(RunState(), run.records)
    assert skipped == []
    writer = EventJsonWriter("1.13.27")
    for event in events:
        schemas.validate_event(json.loads(writer.json(event)))
    assert "S3cretPw" not in "".join(writer.json(event) for event in events)
