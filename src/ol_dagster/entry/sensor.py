"""The sensor entry adapter: `openlineage_sensor(...)`, a drop-in for openlineage-dagster's."""

from __future__ import annotations

import time

from dagster import (
    DefaultSensorStatus,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from ol_dagster.app.container import Container
from ol_dagster.app.tick import TickBudget, TickReport, run_tick
from ol_dagster.domain.errors import DISABLED, BackendError, ConfigurationError
from ol_dagster.domain.ports import Definitions, EventSource

DEFAULT_DESCRIPTION = "Sends OpenLineage events for Dagster runs, steps and assets."


def openlineage_sensor(
    name: str = "openlineage_sensor",
    description: str = DEFAULT_DESCRIPTION,
    minimum_interval_seconds: int = 30,
    record_filter_limit: int = 30,
    after_storage_id: int = 0,
    *,
    tick_budget_seconds: float | None = None,
    default_status: DefaultSensorStatus = DefaultSensorStatus.RUNNING,
    container: Container | None = None,
) -> SensorDefinition:
    """A sensor that tails the instance's event log and sends OpenLineage events.

    Same arguments and defaults as openlineage-dagster's sensor. `record_filter_limit` is the page
    size: a page's events are sent together and the cursor moves past it once they are accepted.
    The event log is read 500 records a query (`READ_AT_ONCE`, or a page if larger) and cut into
    pages. One tick goes page after page until it has caught up or `tick_budget_seconds` (default
    from OL_DAGSTER_TICK_BUDGET_SECONDS, else 30) have passed. `after_storage_id` applies only
    while the sensor has no cursor. Add one such sensor per Dagster instance.
    """
    if record_filter_limit < 1:
        raise ConfigurationError(
            f"record_filter_limit must be at least 1, not {record_filter_limit}"
        )
    if after_storage_id < 0:
        raise ConfigurationError(f"after_storage_id must not be negative, not {after_storage_id}")
    if tick_budget_seconds is not None and tick_budget_seconds <= 0:
        raise ConfigurationError(f"tick_budget_seconds must be positive, not {tick_budget_seconds}")
    wiring = container if container is not None else Container()

    @sensor(
        name=name,
        description=description,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
    )
    def _openlineage_sensor(context: SensorEvaluationContext) -> SkipReason:
        started = time.monotonic()
        wiring.settings()  # a misconfigured setting is named before anything else is tried
        if wiring.emitter().disabled:
            summary = f"{DISABLED}: nothing read; the cursor waits until it is enabled"
            context.log.info(f"ol-dagster: {summary}")
            return SkipReason(summary)
        seconds = tick_budget_seconds or wiring.settings().ol_dagster_tick_budget_seconds
        # the webserver's answer is due by the tick's deadline, counted from here
        definitions = _definitions(context, wiring, deadline=started + seconds)
        catalog = wiring.asset_catalog(definitions=definitions)
        source = wiring.event_source(instance=context.instance, catalog=catalog)
        report = tick(context, wiring, source, name, record_filter_limit, after_storage_id, seconds)
        try:
            lag = _lag(source, report)
        except Exception:  # noqa: BLE001  (the storage that stopped the tick: keep its progress)
            lag = "lag ?"
        summary = f"{report.summary()}; {lag}, {time.monotonic() - started:.1f} s"
        check = wiring.emitter().confirmation
        if not check.confirmed and not check.refused:  # a refusal is the failure itself
            summary += f"; delivery not confirmed: {check.text}"
        if catalog.undefined and not wiring.settings().ol_dagster_graphql_url:
            summary += "; " + catalog.undefined_note("this code location")
        context.log.info(f"ol-dagster: {summary}")
        if report.failure is not None and not report.progressed:
            # Nothing moved: fail the tick so that Dagster shows it red, cursor unchanged.
            raise BackendError(summary)
        return SkipReason(summary)

    return _openlineage_sensor


def _definitions(
    context: SensorEvaluationContext, wiring: Container, deadline: float
) -> Definitions:
    """Where assets live, their owners and upstream assets: the sensor's own code location,
    then (OL_DAGSTER_GRAPHQL_URL) the webserver's view of every location, by `deadline`."""
    repository = context.repository_def
    local = wiring.code_location(repositories=[repository] if repository is not None else [])
    definitions: Definitions = wiring.definitions(local=local, deadline=deadline)
    return definitions


def _lag(source: EventSource, report: TickReport) -> str:
    """How far the sensor trails the event log after this tick."""
    behind = source.storage_ids_behind(report.position)
    ids = f"{behind:,} storage ids" if behind is not None else "? storage ids"
    if report.records_unsent:  # read, not sent: behind the cursor, whatever the ids say
        ids = f"{report.records_unsent:,} records read and not sent, {ids}"
    waiting = source.gaps_note(report.position)
    if waiting:
        ids += f", {waiting}"
    if not report.log_time:
        return f"lag {ids}"
    return f"lag {ids}, newest record read {max(time.time() - report.log_time, 0):,.0f} s ago"


def tick(
    context: SensorEvaluationContext,
    wiring: Container,
    source: EventSource,
    sensor_name: str,
    page_size: int,
    after_storage_id: int,
    budget_seconds: float,
) -> TickReport:
    settings = wiring.settings()
    budget = TickBudget(
        page_size=page_size,
        seconds=budget_seconds,
        open_run_max_age=settings.ol_dagster_open_run_max_age_hours * 3600,
    )
    return run_tick(
        source=source,
        cursor=wiring.cursor_store(
            read=lambda: context.cursor,
            write=context.update_cursor,
            positions=source.position_from_json,
        ),
        emitter=wiring.emitter(),
        translator=wiring.translator(),
        budget=budget,
        after_storage_id=after_storage_id,
        dead_letters=wiring.dead_letters(instance=context.instance, name=sensor_name),
        set_aside_after=settings.ol_dagster_set_aside_after,
    )
