"""The dependency-injector container: the one place that names concrete adapters."""

from __future__ import annotations

import dagster
from dependency_injector import containers, providers

from ol_dagster.adapters.asset_catalog import AssetCatalog
from ol_dagster.adapters.dagster_events import DagsterEventSource
from ol_dagster.adapters.json_cursor import JsonCursorStore
from ol_dagster.adapters.openlineage_emitter import (
    OpenLineageEmitter,
    PrintingEmitter,
    build_client,
)
from ol_dagster.app.settings import load_settings
from ol_dagster.domain.translate import Translator


class Container(containers.DeclarativeContainer):
    """Wiring for one entry adapter (a sensor, a CLI command).

    Per-call inputs (the Dagster instance, the code location, where the cursor lives) are given
    when a provider is called: `container.event_source(instance=..., catalog=...)`,
    `container.asset_catalog(repository=...)`, `container.cursor_store(read=..., write=...)`.
    Tests replace a provider with `container.emitter.override(fake)`.
    """

    settings = providers.Singleton(load_settings)

    # One client per container, so its HTTP connections are reused from tick to tick.
    openlineage_client = providers.Singleton(build_client)
    emitter = providers.Singleton(
        OpenLineageEmitter, client=openlineage_client, engine_version=dagster.__version__
    )
    # Dry runs: each event as a JSON line on a stream, nothing sent (`stream=` at the call).
    printing_emitter = providers.Factory(PrintingEmitter, engine_version=dagster.__version__)
    translator = providers.Factory(
        Translator,
        default_namespace=settings.provided.openlineage_namespace,
        dagster_ui_url=settings.provided.ol_dagster_ui_url,
    )
    asset_catalog = providers.Factory(
        AssetCatalog,
        asset_namespace=settings.provided.ol_dagster_asset_namespace,
        storage_namespaces=settings.provided.ol_dagster_storage_namespaces,
    )
    event_source = providers.Factory(
        DagsterEventSource, gap_wait_seconds=settings.provided.ol_dagster_gap_wait_seconds
    )
    cursor_store = providers.Factory(JsonCursorStore)
