"""A Dagster webserver (OL_DAGSTER_GRAPHQL_URL) that trickles, never answers, answers 50 MB, or
answers what is not the API's: each sensor tick ends within its budget (plus `GRACE_SECONDS`)
with one line that names the webserver (its password masked) and the fix, the cursor stays, and
once the webserver answers properly the next tick sends every event.

The webserver is a real HTTP server on 127.0.0.1; the sensor's location holds only the sensor,
as in a deployment where the jobs live elsewhere, so the run's job is known from the API alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import tracemalloc
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from dagster import Definitions, build_sensor_context

from ol_dagster import openlineage_sensor
from ol_dagster.adapters.graphql_definitions import DefinitionsUnavailable
from tests.support.backend import LineageBackend
from tests.support.dagster_env import SensorDriver, dagster_instance, etl
from tests.support.dagster_processes import BIN
from tests.support.schemas import OpenLineageSchemas

BUDGET_SECONDS = 3.0
GRACE_SECONDS = 2.0
"""What a tick may take past its budget: reading the event log, wording the error."""
TRICKLE_SECONDS = 2.0
TRICKLE_FOR_SECONDS = 20.0
"""The trickling server gives up after this, so that a reader it holds is freed at last."""
BIG_BYTES = 50 * 1000 * 1000
ETL_DOCS = "Extracts, transforms and loads three rows."


def proper_answer(description: str = ETL_DOCS) -> dict[str, Any]:
    """The API's answer for a deployment whose one job is `etl` (no assets)."""
    job = {"name": "etl", "description": description, "owners": [{"team": "data"}]}
    return {"data": {"assetNodes": [], "repositoriesOrError": {"nodes": [{"jobs": [job]}]}}}


NODE = {
    "assetKey": {"path": ["orders"]},
    "isMaterializable": True,
    "groupName": "default",
    "description": None,
    "kinds": ["s3"],
    "owners": [],
    "tags": [],
    "dependencyKeys": [],
    "jobNames": ["etl"],
    "opNames": ["orders"],
    "graphName": None,
    "assetChecksOrError": {"checks": []},
    "metadataEntries": [{"label": "dagster/uri", "text": "s3://lake/orders"}],
}
REPOSITORIES = proper_answer()["data"]["repositoriesOrError"]
WRONG_SHAPES = {
    "a list": ([], "the answer: Input should be an object"),
    "not JSON": ("<html>Sign in</html>", "the answer: Invalid JSON"),
    "no assetNodes": (
        {"data": {"repositoriesOrError": REPOSITORIES}},
        "data.assetNodes: Field required",
    ),
    "a string for a node's key": (
        {"data": {"assetNodes": [{**NODE, "assetKey": "orders"}], "repositoriesOrError": {}}},
        "data.assetNodes.0.assetKey: Input should be an object",
    ),
    "a string for a node's kinds": (
        {"data": {"assetNodes": [{**NODE, "kinds": "s3"}], "repositoriesOrError": REPOSITORIES}},
        "data.assetNodes.0.kinds: Input should be a valid array",
    ),
    "a number for a column's name": (
        {
            "data": {
                "assetNodes": [
                    {
                        **NODE,
                        "metadataEntries": [
                            {"label": "dagster/column_schema", "schema": {"columns": [{"name": 7}]}}
                        ],
                    }
                ],
                "repositoriesOrError": REPOSITORIES,
            }
        },
        "data.assetNodes.0.metadataEntries.0.schema.columns.0.name: Input should be a valid string",
    ),
    "a job without its name": (
        {"data": {"assetNodes": [], "repositoriesOrError": {"nodes": [{"jobs": [{}]}]}}},
        "data.repositoriesOrError.nodes.0.jobs.0.name: Field required",
    ),
}


class _Handler(BaseHTTPRequestHandler):
    server: _Webserver

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        webserver = self.server
        webserver.authorizations.append(self.headers.get("Authorization"))
        mode = webserver.mode
        try:
            if mode.startswith("redirect "):  # a 302 to another place (a login page, say)
                self.send_response(302)
                self.send_header("Location", mode.removeprefix("redirect "))
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif mode == "silent":  # takes the request, never answers
                webserver.released.wait(60)
            elif mode == "trickle":  # the headers, then a byte every 2 s
                body = json.dumps(proper_answer()).encode()
                self._headers(len(body))
                ends = time.monotonic() + TRICKLE_FOR_SECONDS
                for byte in body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    if webserver.released.wait(TRICKLE_SECONDS) or time.monotonic() > ends:
                        break
            elif mode in ("big", "big, its length unsaid"):  # a proper answer, 50 MB long
                body = webserver.big
                self._headers(len(body) if mode == "big" else None)
                for start in range(0, len(body), 1 << 20):
                    self.wfile.write(body[start : start + (1 << 20)])
            else:
                body = mode.encode()
                self._headers(len(body))
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the reader gave up on it

    def do_GET(self) -> None:  # a redirected POST comes back as a GET
        self.server.followed.append(self.headers.get("Authorization"))
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _headers(self, length: int | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if length is not None:  # else the answer ends when the connection closes
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Webserver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = json.dumps(proper_answer())
        """"silent", "trickle", "big", "big, its length unsaid", else the answer itself."""
        self.released = threading.Event()
        self.authorizations: list[str | None] = []
        self.followed: list[str | None] = []
        """The Authorization header of each redirect followed (a GET)."""
        big = proper_answer("x" * BIG_BYTES)
        self.big = json.dumps(big).encode()

    def answer(self, answer: Any) -> None:
        self.mode = answer if isinstance(answer, str) else json.dumps(answer)


@pytest.fixture(scope="module")
def webserver() -> Iterator[_Webserver]:
    server = _Webserver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.released.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def driver(
    webserver: _Webserver,
    lineage_env: LineageBackend,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[SensorDriver]:
    """A sensor alone in its location, asking the webserver (with a password in its URL) for
    the definitions of a run of `etl` that really ran; the webserver answers properly."""
    port = webserver.server_address[1]
    monkeypatch.setenv("OL_DAGSTER_GRAPHQL_URL", f"http://lineage:s3cret@127.0.0.1:{port}/graphql")
    monkeypatch.setenv("OL_DAGSTER_TICK_BUDGET_SECONDS", str(BUDGET_SECONDS))
    webserver.answer(proper_answer())
    webserver.released.clear()
    with dagster_instance("sqlite_sharded", tmp_path / "dagster_home") as instance:
        etl.execute_in_process(instance=instance)
        sensor = openlineage_sensor()
        yield SensorDriver(sensor, Definitions(sensors=[sensor]), instance)
    webserver.released.set()  # frees a handler still trickling or silent


def _failed_tick(driver: SensorDriver, backend: LineageBackend) -> str:
    """The one line of a tick that the webserver failed, checked to end within its budget
    and to send nothing."""
    context = build_sensor_context(
        instance=driver.instance, cursor=driver.cursor, definitions=driver.defs
    )
    started = time.monotonic()
    with pytest.raises(Exception) as raised:  # noqa: PT011 (Dagster wraps the sensor's error)
        driver.sensor.evaluate_tick(context)
    seconds = time.monotonic() - started
    error: BaseException | None = raised.value
    while error is not None and not isinstance(error, DefinitionsUnavailable):
        error = error.__cause__ or error.__context__
    assert error is not None, f"not DefinitionsUnavailable: {raised.value!r}"
    message = str(error)
    print(f"{seconds:.1f} s: {message}")
    assert seconds < BUDGET_SECONDS + GRACE_SECONDS, f"{seconds:.1f} s: {message}"
    assert "\n" not in message
    assert "s3cret" not in message
    assert "http://***@127.0.0.1:" in message
    assert "(OL_DAGSTER_GRAPHQL_URL)" in message
    assert "the records stay unread until it answers" in message
    assert backend.received == []
    assert context.cursor == driver.cursor  # nor would Dagster keep one of a failed tick
    return message


def _next_tick_sends_everything(
    driver: SensorDriver,
    backend: LineageBackend,
    webserver: _Webserver,
    schemas: OpenLineageSchemas,
) -> None:
    webserver.released.set()
    webserver.answer(proper_answer())
    driver.tick_until_caught_up()
    kinds = {(e["eventType"], e["job"]["name"]) for e in backend.received}
    steps = {f"etl.{step}" for step in ("extract", "transform", "load")}
    assert kinds == {(kind, job) for kind in ("START", "COMPLETE") for job in {"etl", *steps}}
    for event in backend.received:
        schemas.validate_event(event)
    [start] = [
        e for e in backend.received if (e["eventType"], e["job"]["name"]) == ("START", "etl")
    ]
    assert start["job"]["facets"]["documentation"]["description"] == ETL_DOCS  # from the API
    assert webserver.authorizations[-1] == "Basic bGluZWFnZTpzM2NyZXQ="  # lineage:s3cret


@pytest.mark.parametrize("mode", ["trickle", "silent"])
def test_a_slow_webserver_is_cut_off_at_the_ticks_deadline(
    mode: str,
    driver: SensorDriver,
    lineage_env: LineageBackend,
    webserver: _Webserver,
    schemas: OpenLineageSchemas,
) -> None:
    webserver.mode = mode
    for _ in range(2):
        message = _failed_tick(driver, lineage_env)
        assert "no whole answer" in message
        assert "OL_DAGSTER_TICK_BUDGET_SECONDS" in message
    _next_tick_sends_everything(driver, lineage_env, webserver, schemas)


@pytest.mark.parametrize("mode", ["big", "big, its length unsaid"])
def test_an_answer_past_the_size_limit_is_given_up_on_as_it_arrives(
    mode: str,
    driver: SensorDriver,
    lineage_env: LineageBackend,
    webserver: _Webserver,
    schemas: OpenLineageSchemas,
) -> None:
    webserver.mode = mode
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        message = _failed_tick(driver, lineage_env)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    print(f"{mode}: a {BIG_BYTES / 1e6:.0f} MB answer cost the tick {peak / 1e6:+.1f} MB at peak")
    assert "its answer is longer than 33,554,432 bytes" in message
    assert "Raise OL_DAGSTER_GRAPHQL_MAX_BYTES" in message
    _next_tick_sends_everything(driver, lineage_env, webserver, schemas)


@pytest.mark.parametrize(("answer", "problem"), WRONG_SHAPES.values(), ids=list(WRONG_SHAPES))
def test_an_answer_not_of_the_apis_shape_names_the_field_and_the_fix(
    answer: Any,
    problem: str,
    driver: SensorDriver,
    lineage_env: LineageBackend,
    webserver: _Webserver,
    schemas: OpenLineageSchemas,
) -> None:
    webserver.answer(answer)
    message = _failed_tick(driver, lineage_env)
    assert f"its answer is not the API's ({problem}" in message
    assert "the /graphql of a Dagster webserver" in message
    _next_tick_sends_everything(driver, lineage_env, webserver, schemas)


def test_doctor_names_the_webserver_without_its_password(
    driver: SensorDriver, webserver: _Webserver, lineage_env: LineageBackend
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env["DAGSTER_HOME"] = str(driver.instance.root_directory)
    done = subprocess.run(
        [str(BIN / "ol-dagster"), "doctor"], env=env, capture_output=True, text=True, timeout=120
    )
    output = done.stdout + done.stderr
    port = webserver.server_address[1]
    assert f"http://127.0.0.1:{port}/graphql answered in" in output, output
    assert "s3cret" not in output and "Traceback" not in output


def test_a_redirect_is_not_followed_and_carries_the_password_nowhere(
    driver: SensorDriver,
    webserver: _Webserver,
    lineage_env: LineageBackend,
    schemas: OpenLineageSchemas,
) -> None:
    port = webserver.server_address[1]
    webserver.answer(f"redirect http://other:pw@localhost:{port}/login")
    message = _failed_tick(driver, lineage_env)
    assert f"HTTP 302 Found to http://localhost:{port}/login" in message, message
    assert "pw@" not in message
    assert webserver.followed == []
    _next_tick_sends_everything(driver, lineage_env, webserver, schemas)
