"""The `Definitions` port from the GraphQL API of a running Dagster webserver.

The webserver loads every code location of the deployment, so a sensor in any one location (or a
command run anywhere) gets every asset's definition from it: one request, made the first time a
fact is asked for that the process's own definitions lack, then kept for the life of the object
(the sensor builds one per tick). A webserver that does not answer fails the read with one line:
the sensor's tick then fails and the next tick reads the same records again, so no asset is ever
named without its definition because the webserver was restarting. So does one that answers too
late (the whole answer is due by the tick's deadline, however slowly it trickles), too much
(OL_DAGSTER_GRAPHQL_MAX_BYTES, counted as it is read), or what is not the API's answer (each
field this module reads is checked as the answer is parsed).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from http import client as http_client
from typing import Any, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from ol_dagster.adapters import bounded_http
from ol_dagster.adapters.dagster_definitions import (
    STUB_MARKER,
    definition_tags,
    facts_of_metadata,
    source_url,
)
from ol_dagster.adapters.openlineage_emitter import redact
from ol_dagster.domain.datasets import AssetFacts, Column
from ol_dagster.domain.errors import OlDagsterError
from ol_dagster.domain.ports import AssetKeyPath
from ol_dagster.domain.records import JobDocs

# Fields present from Dagster 1.11 on (checked against dagster-graphql's schema of 1.11 and 1.13),
# except the owners of jobs (1.12 on): `_JOB_OWNERS` is dropped for a webserver without them.
_JOB_OWNERS = """ owners { ... on UserDefinitionOwner { email }
                         ... on TeamDefinitionOwner { team } }"""
QUERY = """
query OlDagsterDefinitions {
  assetNodes {
    assetKey { path }
    isMaterializable
    groupName
    description
    kinds
    owners { ... on UserAssetOwner { email } ... on TeamAssetOwner { team } }
    tags { key value }
    dependencyKeys { path }
    jobNames
    opNames
    graphName
    assetChecksOrError { ... on AssetChecks { checks { name jobNames } } }
    metadataEntries {
      label
      ... on TextMetadataEntry { text }
      ... on UrlMetadataEntry { url }
      ... on PathMetadataEntry { path }
      ... on BoolMetadataEntry { boolValue }
      ... on TableSchemaMetadataEntry { schema { columns { name type description } } }
      ... on CodeReferencesMetadataEntry {
        codeReferences {
          ... on LocalFileCodeReference { filePath lineNumber }
          ... on UrlCodeReference { url }
        }
      }
    }
  }
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes { jobs { name description JOB_OWNERS } }
    }
    ... on PythonError { message }
  }
}
"""


REACH_FIX = "Check that the webserver runs and that the URL ends in /graphql"
TIME_FIX = (
    "Check that the webserver runs and answers within the tick's budget "
    "(OL_DAGSTER_TICK_BUDGET_SECONDS), or raise it"
)
SIZE_FIX = "Raise OL_DAGSTER_GRAPHQL_MAX_BYTES if the deployment's definitions are that large"
SHAPE_FIX = (
    "Check that OL_DAGSTER_GRAPHQL_URL is the /graphql of a Dagster webserver (1.11 or later), "
    "not a proxy's or another service's"
)


class DefinitionsUnavailable(OlDagsterError):
    """The Dagster webserver's GraphQL API did not give the definitions."""


class _Shape(BaseModel):
    """Part of the API's answer, checked as it is parsed: only the fields the query asks for,
    each of the type Dagster's schema gives it (null where the schema allows it)."""

    model_config = ConfigDict(strict=True, frozen=True, alias_generator=to_camel)


class _Key(_Shape):
    path: tuple[str, ...]


class _Owner(_Shape):
    email: str | None = None  # UserAssetOwner, UserDefinitionOwner
    team: str | None = None  # TeamAssetOwner, TeamDefinitionOwner


class _Tag(_Shape):
    key: str
    value: str


class _Check(_Shape):
    name: str
    job_names: tuple[str, ...]


class _Checks(_Shape):
    checks: tuple[_Check, ...] = ()  # absent when not AssetChecks (a migration needed)


class _Column(_Shape):
    name: str
    type: str | None
    description: str | None


class _Table(_Shape):
    columns: tuple[_Column, ...]


class _CodeReference(_Shape):
    file_path: str | None = None  # LocalFileCodeReference
    line_number: int | None = None
    url: str | None = None  # UrlCodeReference


class _MetadataEntry(_Shape):
    """One entry: its label, and the value of its kind when the query asks for that kind."""

    label: str
    text: str | None = None
    url: str | None = None
    path: str | None = None
    bool_value: bool | None = None
    table: _Table | None = Field(default=None, alias="schema")
    code_references: tuple[_CodeReference, ...] | None = None


class _AssetNode(_Shape):
    asset_key: _Key
    is_materializable: bool
    group_name: str | None
    description: str | None
    kinds: tuple[str, ...]
    owners: tuple[_Owner, ...]
    tags: tuple[_Tag, ...]
    dependency_keys: tuple[_Key, ...]
    job_names: tuple[str, ...]
    op_names: tuple[str, ...]
    graph_name: str | None
    asset_checks_or_error: _Checks | None
    metadata_entries: tuple[_MetadataEntry, ...]


class _Job(_Shape):
    name: str
    description: str | None
    owners: tuple[_Owner, ...] = ()  # not asked of a webserver before 1.12


class _Repository(_Shape):
    jobs: tuple[_Job, ...]


class _Repositories(_Shape):
    nodes: tuple[_Repository, ...] | None = None  # RepositoryConnection
    message: str | None = None  # PythonError


class _Data(_Shape):
    asset_nodes: tuple[_AssetNode, ...]
    repositories_or_error: _Repositories


class _Error(_Shape):
    message: str


class _Errors(_Shape):
    errors: tuple[_Error, ...] | None = None


class _Answer(_Errors):
    data: _Data | None = None


_Loaded: TypeAlias = "tuple[dict[AssetKeyPath, _AssetNode], dict[str, _Job]]"


class GraphQLDefinitions:
    """The API's definitions, read once, by `deadline` (on `time.monotonic()`: the sensor's
    tick's) or else within `timeout_seconds` of the read, and at most `max_bytes` long."""

    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float,
        max_bytes: int,
        deadline: float | None = None,
    ) -> None:
        self._url = url
        self._deadline = deadline
        self._timeout = timeout_seconds
        self._max_bytes = max_bytes
        self._loaded: _Loaded | None = None
        self.requests = 0
        self.answer_bytes = 0
        """Bytes of the answers read (for `bench/definitions.py`)."""

    def _fetch(self) -> _Loaded:
        if self._loaded is None:
            data = self._query()
            nodes: dict[AssetKeyPath, _AssetNode] = {}
            # A location that only depends on an asset holds a stub of it: the defining
            # location's node wins, whichever comes first.
            for node in data.asset_nodes:
                if _stub(node):
                    continue
                key = node.asset_key.path
                if key not in nodes or node.is_materializable:
                    nodes[key] = node
            repositories = data.repositories_or_error
            if repositories.nodes is None:
                raise self._unavailable(repositories.message or "no repositories")
            jobs = {job.name: job for repo in repositories.nodes for job in repo.jobs}
            self._loaded = nodes, jobs
        return self._loaded

    def _query(self) -> _Data:
        started = time.monotonic()
        deadline = self._deadline if self._deadline is not None else started + self._timeout
        answer = self._ask(QUERY.replace("JOB_OWNERS", _JOB_OWNERS), started, deadline)
        if any(_no_job_owners(e.message) for e in answer.errors or ()):
            # a webserver before 1.12
            answer = self._ask(QUERY.replace("JOB_OWNERS", ""), started, deadline)
        if answer.errors or answer.data is None:
            messages = [e.message for e in answer.errors or ()]
            raise self._unavailable("; ".join(messages)[:300] or "no data")
        return answer.data

    def _ask(self, query: str, started: float, deadline: float) -> _Answer:
        """The API's answer: its data, or its errors (a query the schema refuses comes back
        as a 400 with the reasons in its body)."""
        self.requests += 1
        try:
            reply = bounded_http.post(
                self._url,
                json.dumps({"query": query}).encode(),
                {"Content-Type": "application/json", "Accept": "application/json"},
                deadline=deadline,
                max_bytes=self._max_bytes,
            )
        except bounded_http.OutOfTime:
            raise self._unavailable(
                "no whole answer by the end of the tick's budget "
                f"({max(deadline - started, 0):.1f} s after it was asked)",
                fix=TIME_FIX,
            ) from None
        except bounded_http.TooLarge:
            raise self._unavailable(
                f"its answer is longer than {self._max_bytes:,} bytes", fix=SIZE_FIX
            ) from None
        except (OSError, http_client.HTTPException) as error:
            raise self._unavailable(f"{type(error).__name__}: {error}") from None
        self.answer_bytes += len(reply.body)
        return self._answer(reply)

    def _answer(self, reply: bounded_http.Reply) -> _Answer:
        failed = not 200 <= reply.status < 300
        try:
            answer = _Answer.model_validate_json(reply.body)
        except ValidationError as wrong:
            try:  # the schema's errors, beside data of any shape
                answer = _Answer(errors=_Errors.model_validate_json(reply.body).errors)
            except ValidationError:
                answer = _Answer()
            if not answer.errors:
                if failed:
                    raise self._unavailable(f"HTTP {reply.status} {reply.reason}") from None
                raise self._unavailable(
                    f"its answer is not the API's ({_first_problem(wrong)})", fix=SHAPE_FIX
                ) from None
        if failed and not answer.errors:
            raise self._unavailable(f"HTTP {reply.status} {reply.reason}")
        return answer

    def _unavailable(self, why: str, fix: str = REACH_FIX) -> DefinitionsUnavailable:
        return DefinitionsUnavailable(
            redact(
                f"the Dagster webserver's GraphQL API at {self._url} (OL_DAGSTER_GRAPHQL_URL) "
                f"gave no asset definitions: {why}. {fix}; the records stay unread until it "
                "answers."
            )
        )

    def asset(self, key: AssetKeyPath) -> AssetFacts | None:
        node = self._fetch()[0].get(key)
        if node is None:
            return None
        return replace(
            facts_of_metadata(key, _plain(node.metadata_entries)),
            kinds=tuple(sorted(node.kinds)),
            group=node.group_name,
            description=node.description,
            owners=_owners(node.owners),
            tags=definition_tags({tag.key: tag.value for tag in node.tags}),
            parents=tuple(sorted(k.path for k in node.dependency_keys)),
        )

    def job(self, job_name: str) -> JobDocs | None:
        job = self._fetch()[1].get(job_name)
        if job is None:
            return None
        return JobDocs(job.description, _owners(job.owners))

    def step_assets(self, job_name: str, step_key: str) -> tuple[AssetKeyPath, ...] | None:
        nodes, jobs = self._fetch()
        if job_name not in jobs:
            return None
        # A step key is the handle of its node: `op`, `graph.op`, with `[mapping key]`s.
        top = step_key.split("[", 1)[0].split(".", 1)[0]
        # None rather than (): the API does not list ops that compute no asset, so a step it
        # does not name is not known here (a plain op, or another location's)
        found = tuple(
            sorted(
                key
                for key, node in nodes.items()
                if (job_name in node.job_names and top in (node.graph_name, *node.op_names))
                or any(
                    job_name in check.job_names and top == _check_op(key, check.name)
                    for check in (node.asset_checks_or_error or _Checks()).checks
                )
            )
        )
        return found or None

    def partition_window(self, job_name: str, partition_key: str) -> tuple[float, float] | None:
        return None  # not served by the API: the run's own partition tags still say the key


def _no_job_owners(message: str) -> bool:
    """The schema refuses the owners of jobs (Dagster 1.11: `Cannot query field 'owners' on
    type 'Job'.`, `Unknown type 'UserDefinitionOwner'.`)."""
    return "DefinitionOwner" in message or ("'owners'" in message and "'Job'" in message)


def _first_problem(error: ValidationError) -> str:
    """Where the answer first differs from the API's, named by its path in the answer."""
    problems = error.errors(include_url=False)
    where = ".".join(str(part) for part in problems[0]["loc"]) or "the answer"
    more = f", and {len(problems) - 1} more" if len(problems) > 1 else ""
    return f"{where}: {problems[0]['msg']}{more}"


def _check_op(key: AssetKeyPath, check_name: str) -> str:
    """The op of a check defined on its own (`@asset_check`), named as Dagster names it."""
    identifier = "__".join(key).replace("-", "_").replace(".", "_")
    return f"{identifier}_{check_name}".replace(".", "_")


def _stub(node: _AssetNode) -> bool:
    return any(entry.label == STUB_MARKER and entry.bool_value for entry in node.metadata_entries)


def _plain(entries: Sequence[_MetadataEntry]) -> dict[str, Any]:
    """The API's metadata entries as the plain values `facts_of_metadata` reads."""
    plain: dict[str, Any] = {}
    for entry in entries:
        value: Any
        if entry.table is not None:
            value = tuple(
                Column(c.name, c.type or None, c.description) for c in entry.table.columns
            )
        elif entry.code_references is not None:
            value = tuple(_source(reference) for reference in entry.code_references)
        else:
            value = next(
                (v for v in (entry.text, entry.url, entry.path, entry.bool_value) if v is not None),
                None,
            )
        plain[entry.label] = value
    return plain


def _owners(owners: Sequence[_Owner]) -> tuple[str, ...]:
    return tuple(
        o.email if o.email is not None else f"team:{o.team}"
        for o in owners
        if o.email is not None or o.team is not None
    )


def _source(reference: _CodeReference) -> tuple[str | None, str | None]:
    if reference.file_path is not None:
        return source_url(reference.file_path, reference.line_number), reference.file_path
    return reference.url, None
