"""The dependency-injector container: the one place that names concrete adapters."""

from __future__ import annotations

import dagster
from dagster import DagsterInstance
from dependency_injector import containers, providers

from ol_dagster.adapters.asset_catalog import AssetCatalog
from ol_dagster.adapters.dagster_dead_letters import InstanceDeadLetters
from ol_dagster.adapters.dagster_definitions import RepositoryDefinitions, load_workspace
from ol_dagster.adapters.dagster_events import DagsterEventSource
from ol_dagster.adapters.dagster_instance import open_instance
from ol_dagster.adapters.graphql_definitions import GraphQLDefinitions
from ol_dagster.adapters.json_cursor import JsonCursorStore
from ol_dagster.adapters.kafka_delivery import KafkaDelivery
from ol_dagster.adapters.openlineage_emitter import (
    OpenLineageEmitter,
    PrintingEmitter,
    build_client,
    describe,
)
from ol_dagster.adapters.user_facets import load_hook
from ol_dagster.app.settings import load_settings
from ol_dagster.domain.definitions import Layered
from ol_dagster.domain.ports import Definitions
from ol_dagster.domain.translate import Translator


def dead_letter_store(
    instance: DagsterInstance, name: str, on_refusal: str
) -> InstanceDeadLetters | None:
    """Where refused events are kept (None when OL_DAGSTER_ON_REFUSAL=stop: ticks stop at them)."""
    return InstanceDeadLetters(instance, name) if on_refusal == "dead-letter" else None


def layered_definitions(
    local: Definitions | None,
    graphql_url: str | None,
    *,
    timeout_seconds: float,
    max_bytes: int,
    deadline: float | None = None,
) -> Definitions:
    """The process's own definitions (the sensor's code location, a workspace the command
    loaded), then the webserver's GraphQL API when OL_DAGSTER_GRAPHQL_URL is set: its answer
    due by `deadline` (a sensor's tick's, on `time.monotonic()`), else within `timeout_seconds`."""
    layers = [local] if local is not None else []
    if graphql_url:
        layers.append(
            GraphQLDefinitions(
                graphql_url, timeout_seconds=timeout_seconds, max_bytes=max_bytes, deadline=deadline
            )
        )
    return Layered(*layers)


class Container(containers.DeclarativeContainer):
    """Wiring for one entry adapter (a sensor, a CLI command).

    Per-call inputs (the Dagster instance, the code location, where the cursor lives) are given
    when a provider is called: `container.event_source(instance=..., catalog=...)`,
    `container.asset_catalog(definitions=...)`, `container.definitions(local=..., deadline=...)`,
    `container.code_location(repositories=[...])`, `container.workspace(workspace_files=...)`,
    `container.cursor_store(read=..., write=..., positions=source.position_from_json)`,
    `container.dead_letters(instance=..., name=...)`.
    Tests replace a provider with `container.emitter.override(fake)`.
    """

    settings = providers.Singleton(load_settings)

    # The Dagster instance of DAGSTER_HOME, for a command (`home=` at the call): a context
    # manager whose failures of dagster.yaml and of the storage are StorageErrors.
    instance = providers.Factory(open_instance)

    # One client per container, so its HTTP connections are reused from tick to tick.
    openlineage_client = providers.Singleton(build_client)
    # Kafka through the client's producer, each page waiting for the brokers' acknowledgement.
    emitter = providers.Singleton(
        OpenLineageEmitter,
        client=openlineage_client,
        engine_version=dagster.__version__,
        kafka=providers.Object(KafkaDelivery),
    )
    # The transport the client resolved, for people (`transport` at the call).
    transport_description = providers.Callable(describe)
    # Dry runs: each event as a JSON line on a stream, nothing sent (`stream=` at the call).
    printing_emitter = providers.Factory(PrintingEmitter, engine_version=dagster.__version__)
    # The user's facets hook, imported once (OL_DAGSTER_FACETS); None when not set.
    facets_hook = providers.Singleton(load_hook, path=settings.provided.ol_dagster_facets)
    translator = providers.Factory(
        Translator,
        facets_hook=facets_hook,
        default_namespace=settings.provided.openlineage_namespace,
        dagster_ui_url=settings.provided.ol_dagster_ui_url,
        selection=settings.provided.selection,
        job_namespace=settings.provided.ol_dagster_job_namespace,
    )
    # Asset and job definitions: in process (a code location, a workspace), then GraphQL.
    code_location = providers.Factory(RepositoryDefinitions)
    workspace = providers.Factory(load_workspace)
    # `deadline=` at the call (the sensor's tick); commands have the tick budget's seconds.
    definitions = providers.Factory(
        layered_definitions,
        graphql_url=settings.provided.ol_dagster_graphql_url,
        timeout_seconds=settings.provided.ol_dagster_tick_budget_seconds,
        max_bytes=settings.provided.ol_dagster_graphql_max_bytes,
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
    # Events the backend refused for good, in the instance (`instance=`, `name=` of the sensor).
    dead_letters = providers.Factory(
        dead_letter_store, on_refusal=settings.provided.ol_dagster_on_refusal
    )
    # The same store whatever the setting, for the commands that list and resend letters.
    dead_letter_box = providers.Factory(InstanceDeadLetters)
