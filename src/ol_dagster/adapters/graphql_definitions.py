"""The `Definitions` port from the GraphQL API of a running Dagster webserver.

The webserver loads every code location of the deployment, so a sensor in any one location (or a
command run anywhere) gets every asset's definition from it: one request, made the first time a
fact is asked for that the process's own definitions lack, then kept for the life of the object
(the sensor builds one per tick). A webserver that does not answer fails the read with one line:
the sensor's tick then fails and the next tick reads the same records again, so no asset is ever
named without its definition because the webserver was restarting.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ol_dagster.adapters.dagster_definitions import (
    STUB_MARKER,
    definition_tags,
    facts_of_metadata,
    source_url,
)
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


class DefinitionsUnavailable(OlDagsterError):
    """The Dagster webserver's GraphQL API did not give the definitions."""


class GraphQLDefinitions:
    def __init__(self, url: str, timeout_seconds: float = 10.0) -> None:
        self._url = url
        self._timeout = timeout_seconds
        self._loaded: tuple[dict[AssetKeyPath, dict[str, Any]], dict[str, dict[str, Any]]] | None
        self._loaded = None
        self.requests = 0

    def _fetch(self) -> tuple[dict[AssetKeyPath, dict[str, Any]], dict[str, dict[str, Any]]]:
        if self._loaded is None:
            data = self._query()
            nodes: dict[AssetKeyPath, dict[str, Any]] = {}
            # A location that only depends on an asset holds a stub of it: the defining
            # location's node wins, whichever comes first.
            for node in data["assetNodes"]:
                if _stub(node):
                    continue
                key = tuple(node["assetKey"]["path"])
                if key not in nodes or node["isMaterializable"]:
                    nodes[key] = node
            repositories = data["repositoriesOrError"]
            if "nodes" not in repositories:
                raise self._unavailable(repositories.get("message", "no repositories"))
            jobs = {job["name"]: job for repo in repositories["nodes"] for job in repo["jobs"]}
            self._loaded = nodes, jobs
        return self._loaded

    def _query(self) -> dict[str, Any]:
        answer = self._ask(QUERY.replace("JOB_OWNERS", _JOB_OWNERS))
        if any(_no_job_owners(e.get("message", "")) for e in answer.get("errors") or ()):
            answer = self._ask(QUERY.replace("JOB_OWNERS", ""))  # a webserver before 1.12
        if answer.get("errors") or not isinstance(answer.get("data"), dict):
            messages = [e.get("message", "") for e in answer.get("errors") or ()]
            raise self._unavailable("; ".join(messages)[:300] or "no data")
        data: dict[str, Any] = answer["data"]
        return data

    def _ask(self, query: str) -> dict[str, Any]:
        """The API's answer: its data, or its errors (a query the schema refuses comes back
        as a 400 with the reasons in its body)."""
        request = urllib.request.Request(  # noqa: S310 (an http(s) URL: settings check it)
            self._url,
            data=json.dumps({"query": query}).encode(),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        self.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                answer = json.load(response)
        except urllib.error.HTTPError as error:
            with error:
                try:
                    answer = json.load(error)
                except ValueError:
                    answer = None
            if not isinstance(answer, dict) or not answer.get("errors"):
                raise self._unavailable(f"HTTP {error.code} {error.reason}") from None
        except (OSError, ValueError) as error:
            raise self._unavailable(f"{type(error).__name__}: {error}") from None
        if not isinstance(answer, dict):
            raise self._unavailable("the answer is not a JSON object")
        return answer

    def _unavailable(self, why: str) -> DefinitionsUnavailable:
        return DefinitionsUnavailable(
            f"the Dagster webserver's GraphQL API at {self._url} (OL_DAGSTER_GRAPHQL_URL) gave "
            f"no asset definitions: {why}. Check that the webserver runs and that the URL ends "
            "in /graphql; the records stay unread until it answers."
        )

    def asset(self, key: AssetKeyPath) -> AssetFacts | None:
        node = self._fetch()[0].get(key)
        if node is None:
            return None
        return replace(
            facts_of_metadata(key, _plain(node["metadataEntries"])),
            kinds=tuple(sorted(node["kinds"])),
            group=node["groupName"],
            description=node["description"],
            owners=_owners(node["owners"]),
            tags=definition_tags({tag["key"]: tag["value"] for tag in node["tags"]}),
            parents=tuple(sorted(tuple(k["path"]) for k in node["dependencyKeys"])),
        )

    def job(self, job_name: str) -> JobDocs | None:
        job = self._fetch()[1].get(job_name)
        if job is None:
            return None
        return JobDocs(job["description"], _owners(job.get("owners") or ()))

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
                if (job_name in node["jobNames"] and top in (node["graphName"], *node["opNames"]))
                or any(
                    job_name in check["jobNames"] and top == _check_op(key, check["name"])
                    for check in (node.get("assetChecksOrError") or {}).get("checks") or ()
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


def _check_op(key: AssetKeyPath, check_name: str) -> str:
    """The op of a check defined on its own (`@asset_check`), named as Dagster names it."""
    identifier = "__".join(key).replace("-", "_").replace(".", "_")
    return f"{identifier}_{check_name}".replace(".", "_")


def _stub(node: Mapping[str, Any]) -> bool:
    return any(
        entry["label"] == STUB_MARKER and entry.get("boolValue")
        for entry in node["metadataEntries"]
    )


def _plain(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The API's metadata entries as the plain values `facts_of_metadata` reads."""
    plain: dict[str, Any] = {}
    for entry in entries:
        if "schema" in entry:
            columns = entry["schema"]["columns"]
            value: Any = tuple(
                Column(c["name"], c["type"] or None, c["description"]) for c in columns
            )
        elif "codeReferences" in entry:
            value = tuple(_source(reference) for reference in entry["codeReferences"])
        else:
            value = next(
                (entry[k] for k in ("text", "url", "path", "boolValue") if k in entry), None
            )
        plain[entry["label"]] = value
    return plain


def _owners(owners: Sequence[Mapping[str, str]]) -> tuple[str, ...]:
    return tuple(o["email"] if "email" in o else f"team:{o['team']}" for o in owners if o)


def _source(reference: Mapping[str, Any]) -> tuple[str | None, str | None]:
    if "filePath" in reference:
        return source_url(reference["filePath"], reference.get("lineNumber")), reference["filePath"]
    return reference.get("url"), None
