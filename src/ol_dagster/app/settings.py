"""Settings read once from the environment; the OpenLineage client reads its own on top."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ol_dagster.app.tick import DEFAULT_OPEN_RUN_MAX_AGE_SECONDS
from ol_dagster.domain.dead_letters import SET_ASIDE_AFTER
from ol_dagster.domain.errors import ConfigurationError
from ol_dagster.domain.positions import GAP_WAIT_SECONDS, GIVEN_UP_WATCH_SECONDS
from ol_dagster.domain.selection import EXAMPLE as SELECTION_EXAMPLE
from ol_dagster.domain.selection import Selection, SelectionError
from ol_dagster.domain.selection import parse as parse_selectors

# Dagster kills a sensor evaluation after 60 s by default (DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS);
# stop starting new pages well before that so that the last emit and the cursor save fit.
DEFAULT_TICK_BUDGET_SECONDS = 30.0
DEFAULT_GRAPHQL_MAX_BYTES = 32 * 1024 * 1024
"""The longest answer of the webserver's GraphQL API read (held whole while it is parsed): room
for some 10,000 assets with a column schema each, or 90,000 plain ones (`bench/definitions.py`
prints the bytes an asset takes)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    openlineage_namespace: str = Field(
        default="default",
        min_length=1,
        description="Namespace of runs whose Dagster run names no repository or code location.",
    )
    openlineage_url: str | None = Field(
        default=None, description="Checked here so a typo fails clearly; the client uses it."
    )
    ol_dagster_tick_budget_seconds: float = Field(default=DEFAULT_TICK_BUDGET_SECONDS, gt=0)
    ol_dagster_open_run_max_age_hours: float = Field(
        default=DEFAULT_OPEN_RUN_MAX_AGE_SECONDS / 3600,
        gt=0,
        description="A run open this long without an end (a killed process) is forgotten.",
    )
    ol_dagster_gap_wait_seconds: float = Field(
        default=GAP_WAIT_SECONDS,
        ge=0,
        le=GIVEN_UP_WATCH_SECONDS,  # past it, an id given up on would no longer be looked for
        allow_inf_nan=False,
        description="How long a storage id that has not appeared (PostgreSQL commits out of "
        "order) holds the reader back before it is taken as a rolled-back insert.",
    )

    ol_dagster_on_refusal: Literal["dead-letter", "stop"] = Field(
        default="dead-letter",
        description="What to do with an event the backend refuses for good (HTTP 400, 422, ...): "
        "keep it as a dead letter and go on, or stop at it until the backend accepts it.",
    )

    ol_dagster_set_aside_after: int = Field(
        default=SET_ASIDE_AFTER,
        ge=0,
        le=1_000_000,
        description="Events of one Dagster job the backend refuses for good after which that "
        "job's later events are kept as dead letters without being sent (0: never).",
    )

    ol_dagster_ui_url: str | None = Field(
        default=None,
        description="The Dagster UI's base URL: each run's events then link to its page.",
    )

    ol_dagster_graphql_url: str | None = Field(
        default=None,
        description="The GraphQL API of the Dagster webserver (http://host:3000/graphql): "
        "asset definitions of every code location, for a sensor in any one of them.",
    )
    ol_dagster_graphql_max_bytes: int = Field(
        default=DEFAULT_GRAPHQL_MAX_BYTES,
        gt=0,
        description="The longest answer read from OL_DAGSTER_GRAPHQL_URL, in bytes; a longer "
        "one fails the tick, counted as it arrives.",
    )

    ol_dagster_include: str = Field(
        default="",
        description="Selectors of what sends lineage (all when empty): " + SELECTION_EXAMPLE,
    )
    ol_dagster_exclude: str = Field(
        default="", description="Selectors of what does not send lineage: " + SELECTION_EXAMPLE
    )
    ol_dagster_facets: str | None = Field(
        default=None,
        description="Your facets hook, as module:function, like my_company.lineage:facets.",
    )
    ol_dagster_job_namespace: str | None = Field(
        default=None,
        description="The namespace of every job, instead of its run's code location name.",
    )

    ol_dagster_asset_namespace: str = Field(
        default="dagster",
        min_length=1,
        description="Namespace of datasets named after their Dagster asset key.",
    )
    ol_dagster_storage_namespaces: dict[str, str] = Field(
        default_factory=dict,
        description="OpenLineage namespace per storage kind, for assets with a table name, "
        'as JSON: {"postgres": "postgres://db.internal:5432", "snowflake": "snowflake://org-acct"}',
    )

    @field_validator("ol_dagster_facets")
    @classmethod
    def _hook_path(cls, value: str | None) -> str | None:
        if value and not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", value):
            raise ValueError("must be module:function, like my_company.lineage:facets")
        return value or None

    @field_validator("ol_dagster_include", "ol_dagster_exclude")
    @classmethod
    def _selectors(cls, value: str) -> str:
        try:
            parse_selectors(value)
        except SelectionError as error:
            raise ValueError(str(error)) from None
        return value

    @property
    def selection(self) -> Selection:
        return Selection(
            parse_selectors(self.ol_dagster_include), parse_selectors(self.ol_dagster_exclude)
        )

    @field_validator("openlineage_url", "ol_dagster_ui_url", "ol_dagster_graphql_url")
    @classmethod
    def _url_is_http(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "must be an http:// or https:// URL with a host, like http://localhost:5000"
            )
        return value


EXAMPLES = {
    "openlineage_namespace": "my-dagster",
    "openlineage_url": "http://localhost:5000",
    "ol_dagster_tick_budget_seconds": "30",
    "ol_dagster_open_run_max_age_hours": "168",
    "ol_dagster_gap_wait_seconds": "60",
    "ol_dagster_on_refusal": "stop",
    "ol_dagster_set_aside_after": "20",
    "ol_dagster_ui_url": "https://dagster.internal:3000",
    "ol_dagster_graphql_url": "http://dagster-webserver:3000/graphql",
    "ol_dagster_graphql_max_bytes": "67108864",
    "ol_dagster_include": "job:nightly_*,tag:team=data",
    "ol_dagster_exclude": "asset:dbt/*",
    "ol_dagster_facets": "my_company.lineage:facets",
    "ol_dagster_job_namespace": "prod-dagster",
    "ol_dagster_asset_namespace": "dagster",
    "ol_dagster_storage_namespaces": '\'{"postgres": "postgres://db.internal:5432"}\'',
}
"""A valid value of each setting, for the one line that says a setting is wrong."""


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            _problem(str(e["loc"][0]) if e["loc"] else "", _reason(e["msg"]))
            for e in error.errors()
        )
    except ValueError as error:  # pydantic-settings' SettingsError: a value it cannot decode
        found = re.search(r'error parsing value for field "(\w+)"', str(error))
        if found is None:
            raise
        problems = _problem(found.group(1), "not valid JSON")
    raise ConfigurationError(f"ol-dagster is misconfigured: {problems}")


def _problem(field: str, reason: str) -> str:
    """One setting's problem: its variable, why, and a valid example."""
    example = EXAMPLES.get(field)
    text = f"{field.upper()}: {reason}"
    return f"{text} (for example {field.upper()}={example})" if example else text


def _reason(message: str) -> str:
    """Pydantic's message without its "Value error, " prefix: the reason, as a user reads it."""
    return message.removeprefix("Value error, ")
