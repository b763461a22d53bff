"""`ol-dagster`: the command-line entry adapter, on the same container as the sensor.

Every command reads the Dagster instance of `DAGSTER_HOME`, as Dagster's own commands do.
"""

from __future__ import annotations

import math
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from dagster import DagsterInstance

from ol_dagster.app.container import Container
from ol_dagster.app.resend import letter_events, resend_letters
from ol_dagster.app.tick import TickBudget, TickReport, run_tick
from ol_dagster.domain.dead_letters import DeadLetter
from ol_dagster.domain.errors import AHEAD_OF_LOG_HINT, DISABLED, CursorError, OlDagsterError
from ol_dagster.domain.ports import (
    PROBE_JOB,
    Catalog,
    DeadLetters,
    Delivery,
    Emitter,
    EventSource,
    LoadedDefinitions,
)
from ol_dagster.domain.positions import MAX_STORAGE_ID
from ol_dagster.domain.run_state import TailState
from ol_dagster.version import __version__


class _Commands(click.Group):
    """A mistake in the environment or the arguments is one line and exit code 1, naming the
    fix: never a traceback (a bad option value is click's usage error, exit code 2). What
    ol-dagster did not foresee is a bug: its traceback is shown, under a line that says so."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OlDagsterError as error:
            raise click.ClickException(str(error)) from None
        except OSError as error:  # a file or folder the system refuses: the environment's
            raise click.ClickException(_refused(error)) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception:
            if ctx.parent is None:  # once, from the outermost group
                click.echo(
                    f"ol-dagster {__version__} failed on an error it did not foresee: a bug. "
                    "Please report it with the traceback below.",
                    err=True,
                )
            raise


def _refused(error: OSError) -> str:
    where = f" {error.filename}" if error.filename else ""
    return (
        f"cannot use{where}: {error.strerror or error}. The user running ol-dagster must be "
        "able to read it (and write it, for the instance and the state file)"
    )


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ol-dagster")
def cli() -> None:
    """OpenLineage lineage for Dagster: replay history, try a configuration, check a setup."""


def _home() -> Path:
    """DAGSTER_HOME, checked as Dagster would, before Dagster creates anything in it."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise click.ClickException(
            "DAGSTER_HOME is not set: point it at the folder of your Dagster instance's "
            "dagster.yaml, as for `dagster dev` and `dagster-daemon`."
        )
    path = Path(home)
    if not path.is_absolute():
        raise click.ClickException(
            f"DAGSTER_HOME={home} is relative; Dagster needs an absolute path, like "
            f"DAGSTER_HOME={path.absolute()}"
        )
    try:
        if not path.is_dir():
            raise click.ClickException(f"DAGSTER_HOME={home} is not a folder.")
        os.listdir(path)  # a folder this user may not read or enter is said here, not by Dagster
        if not (path / "dagster.yaml").is_file() and not (path / "history").is_dir():
            raise click.ClickException(
                f"DAGSTER_HOME={home} holds no Dagster instance (no dagster.yaml, no history/): "
                "is it the folder `dagster dev` and `dagster-daemon` use?"
            )
    except OSError as error:
        raise click.ClickException(
            f"DAGSTER_HOME={home} cannot be read ({error.strerror or error}): the user running "
            "ol-dagster must be able to read and write it, as Dagster's daemon and webserver do"
        ) from None
    return path


@contextmanager
def _instance(container: Container) -> Iterator[DagsterInstance]:
    instance: DagsterInstance
    with container.instance(home=_home()) as instance:
        yield instance


MAX_PAGE_SIZE = 100_000
"""A page is held in memory and sent whole before its progress is saved."""

_STORAGE_ID = click.IntRange(min=0, max=MAX_STORAGE_ID)
"""Storage ids are 64-bit in every Dagster storage: a larger one is a typo."""


class _Seconds(click.FloatRange):
    """A number of seconds, up to a day: not NaN, which every range comparison lets through."""

    def __init__(self) -> None:
        super().__init__(min=0, max=86_400)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        seconds = super().convert(value, param, ctx)
        if math.isnan(seconds):
            self.fail(f"{value} is not a number of seconds from 0 to 86400.", param, ctx)
        return seconds


def _definitions_options(command: Callable[..., None]) -> Callable[..., None]:
    """Where the assets are defined, as the `dagster` CLI takes it (default: ./workspace.yaml)."""
    options = [
        click.option(
            "-w",
            "--workspace",
            "workspace_files",
            multiple=True,
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="A workspace file; its Python code locations are loaded here.",
        ),
        click.option("-m", "--module-name", "modules", multiple=True, help="A Python module."),
        click.option(
            "-f",
            "--python-file",
            "python_files",
            multiple=True,
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="A Python file.",
        ),
        click.option(
            "-d",
            "--working-directory",
            type=click.Path(exists=True, file_okay=False, path_type=Path),
            help="Where -m and -f are loaded from (default: here).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _local_definitions(container: Container, **target: Any) -> LoadedDefinitions:
    """The code locations the command is given (-w/-m/-f, else ./workspace.yaml), loaded here."""
    try:
        local: LoadedDefinitions = container.workspace(**target)
    except OlDagsterError:
        raise
    except Exception as error:  # noqa: BLE001  (the user's code failed to import: one line)
        raise click.ClickException(
            f"cannot load the definitions given by -w/-m/-f: {type(error).__name__}: {error}"
        ) from None
    return local


def _catalog(container: Container, **target: Any) -> Catalog:
    """Assets named as the sensor names them: from the definitions of every code location the
    command is given, then the webserver's (OL_DAGSTER_GRAPHQL_URL)."""
    local = _local_definitions(container, **target)
    catalog: Catalog = container.asset_catalog(definitions=container.definitions(local=local))
    return catalog


def _note_undefined(container: Container, catalog: Catalog) -> None:
    if catalog.undefined and not container.settings().ol_dagster_graphql_url:
        where = "the code locations given (-w/-m/-f, else ./workspace.yaml)"
        click.echo(f"note: {catalog.undefined_note(where)}", err=True)


def _source(
    container: Container,
    instance: DagsterInstance,
    catalog: Catalog,
    until_storage_id: int | None = None,
) -> EventSource:
    """The event source as the sensor builds it."""
    source: EventSource = container.event_source(
        instance=instance, catalog=catalog, until_storage_id=until_storage_id
    )
    return source


class _StateSlot:
    """Where a command keeps its tick state: a file (resumable) or memory (dry runs)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._text: str | None = None

    def read(self) -> str | None:
        if self.path is None:
            return self._text
        return self.path.read_text() if self.path.is_file() else None

    def write(self, text: str) -> None:
        self._text = text
        if self.path is not None:
            partial = self._partial()
            partial.write_text(text)
            partial.replace(self.path)  # atomic: an interruption leaves the previous state whole

    def check(self) -> None:
        """Fails now, before anything is sent, if the state cannot be read or written: as
        `write` does, with an empty file beside it, then removed."""
        if self.path is None:
            return
        try:
            self.read()
            partial = self._partial()
            partial.write_text("")
            partial.unlink()
        except OSError as error:
            raise click.ClickException(
                f"the replay state file {self.path} cannot be kept: {error.strerror or error} "
                f"({error.filename}). Give a --state-file in a folder that exists and this "
                "user may write; nothing was sent"
            ) from None

    def _partial(self) -> Path:
        assert self.path is not None
        return self.path.with_suffix(self.path.suffix + ".partial")


def _run(
    source: EventSource,
    slot: _StateSlot,
    emitter: Emitter,
    container: Container,
    page_size: int,
    after_storage_id: int,
    dead_letters: DeadLetters | None = None,
) -> TickReport:
    """One pass of the tick's use case, its state kept in `slot`."""
    return run_tick(
        dead_letters=dead_letters,
        source=source,
        cursor=container.cursor_store(
            read=slot.read, write=slot.write, positions=source.position_from_json
        ),
        emitter=emitter,
        translator=container.translator(),
        # long enough to ride out a backend's hiccup with retries (0.5 s, 1 s, 2 s, ...)
        budget=TickBudget(page_size=page_size, seconds=10.0),
        after_storage_id=after_storage_id,
        set_aside_after=container.settings().ol_dagster_set_aside_after,
    )


@cli.command()
@click.option(
    "--from-storage-id",
    type=_STORAGE_ID,
    required=True,
    help="Replay what follows this storage id.",
)
@click.option(
    "--to-storage-id",
    type=click.IntRange(min=1, max=MAX_STORAGE_ID),
    help="Stop at this storage id (default: the end of the log).",
)
@click.option("--dry-run", is_flag=True, help="Print the events as JSON lines; send nothing.")
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Progress, to resume after an interruption "
    "(default: .ol-dagster-replay-FROM-TO.json here).",
)
@click.option(
    "--page-size",
    type=click.IntRange(min=1, max=MAX_PAGE_SIZE),
    default=500,
    show_default=True,
    help="Records sent together, the progress saved after each page; at least the batch "
    "transport's batch size.",
)
@_definitions_options
def replay(
    from_storage_id: int,
    to_storage_id: int | None,
    dry_run: bool,
    state_file: Path | None,
    page_size: int,
    **target: Any,
) -> None:
    """Send the lineage of history: runs before the sensor existed. Never touches its cursor."""
    container = Container()
    with _instance(container) as instance:
        catalog = _catalog(container, **target)
        end = to_storage_id or _source(container, instance, catalog).latest_storage_id()
        # bounded at the end seen now: what is written later is the sensor's to send
        source = _source(container, instance, catalog, until_storage_id=end)
        if end <= from_storage_id:
            raise click.ClickException(
                f"nothing to replay: --from-storage-id {from_storage_id} is not before "
                f"{'--to-storage-id' if to_storage_id else 'the end of the log'} ({end})."
            )
        if dry_run:
            emitter: Emitter = container.printing_emitter(stream=sys.stdout)
        else:
            emitter = _sending_emitter(container)
        if not dry_run and state_file is None:
            # named after the arguments, not the end of the log, so the same command resumes
            upto = to_storage_id if to_storage_id is not None else "end"
            state_file = Path(f".ol-dagster-replay-{from_storage_id}-{upto}.json")
        slot = _StateSlot(state_file)
        slot.check()
        letters = None if dry_run else container.dead_letters(instance=instance, name=REPLAY)
        sent = read = set_aside = 0
        progress = click.progressbar(
            length=end - from_storage_id, label="replaying", file=sys.stderr, show_pos=True
        )
        try:
            with progress:
                while True:
                    report = _run(
                        source, slot, emitter, container, page_size, from_storage_id, letters
                    )
                    sent, read = sent + report.events_emitted, read + report.records_read
                    set_aside += report.dead_letters
                    done = source.storage_id_done(report.position)
                    progress.update((from_storage_id if done is None else done) - progress.pos)
                    if report.stopped_because:
                        raise click.ClickException(
                            f"{report.stopped_because}. {sent} events were sent; run the same "
                            "command again to resume."
                        )
                    if report.caught_up:
                        if not source.gaps_waited_on(report.position):
                            break
                        time.sleep(0.5)  # a storage id below the end may still commit: wait
        except CursorError as error:  # the state file's, not the sensor's cursor
            raise click.ClickException(
                f"the replay state file {state_file} cannot be used: {error.problem}. Delete it, "
                f"or give another --state-file, to replay from --from-storage-id "
                f"{from_storage_id} again."
            ) from None
    _note_undefined(container, catalog)
    click.echo(f"replayed {read} records as {sent} events", err=True)
    if set_aside:
        click.echo(
            f"{set_aside} events the backend refused were kept as dead letters: "
            f"`ol-dagster dead-letters list --sensor-name {REPLAY}`",
            err=True,
        )
    if state_file is not None:
        click.echo(f"progress kept in {state_file}", err=True)


REPLAY = "replay"
"""The name `ol-dagster replay` keeps its dead letters under."""


def _sending_emitter(container: Container) -> Emitter:
    """The emitter of a command that sends: refused when the client sends nothing, since the
    command would otherwise count history as sent."""
    emitter: Delivery = container.emitter()
    if emitter.disabled:
        raise click.ClickException(
            "OpenLineage is disabled (OPENLINEAGE_DISABLED=true, or a noop transport): nothing "
            "would be sent, yet the range would be marked done. Unset it to send; --dry-run "
            "prints the events instead."
        )
    return emitter


def _decoded(container: Container, text: str | None, source: EventSource) -> TailState | None:
    """A cursor's text (the sensor's, a state file's) as the state it holds, its position
    checked by `source`."""
    store = container.cursor_store(
        read=lambda: text, write=_read_only, positions=source.position_from_json
    )
    state: TailState | None = store.load()
    return state


def _read_only(text: str) -> None:
    raise AssertionError("a cursor read to be looked at is never written")


@cli.command()
@click.option(
    "--dry-run",
    is_flag=True,
    required=True,
    help="Required: tail only prints; sending is the sensor's job.",
)
@click.option(
    "--after-storage-id",
    type=_STORAGE_ID,
    help="Start after this storage id (default: the end of the log, new records only).",
)
@click.option(
    "--interval",
    type=_Seconds(),
    default=5.0,
    show_default=True,
    help="Seconds between reads.",
)
@click.option("--max-ticks", type=click.IntRange(min=1), help="Stop after this many reads.")
@_definitions_options
def tail(
    dry_run: bool,
    after_storage_id: int | None,
    interval: float,
    max_ticks: int | None,
    **target: Any,
) -> None:
    """Print the OpenLineage events the sensor would send for new records, as JSON lines."""
    container = Container()
    with _instance(container) as instance:
        catalog = _catalog(container, **target)
        source = _source(container, instance, catalog)
        start = source.latest_storage_id() if after_storage_id is None else after_storage_id
        emitter = container.printing_emitter(stream=sys.stdout)
        slot = _StateSlot(None)
        ticks, noted = 0, 0
        while max_ticks is None or ticks < max_ticks:
            if ticks:
                time.sleep(interval)
            _run(source, slot, emitter, container, 500, start)
            ticks += 1
            if len(catalog.undefined) > noted:  # said again only when more assets are met
                _note_undefined(container, catalog)
                noted = len(catalog.undefined)


@cli.command()
@click.option("--sensor-name", default="openlineage_sensor", show_default=True)
@_definitions_options
def doctor(sensor_name: str, **target: Any) -> None:
    """Check the instance, the settings, the definitions, the transport, the backend and the
    sensor's cursor; each problem on its line, with what fixes it."""
    home = _home()
    container = Container()
    settings_problems = problems = _check_settings(container)
    with _instance(container) as instance:
        storage = type(instance.event_log_storage).__name__
        sharded = instance.event_log_storage.is_run_sharded
        defaults = "" if (home / "dagster.yaml").is_file() else " (no dagster.yaml: defaults)"
        _say(
            "instance",
            f"{home}: {storage}, "
            f"{'run-sharded (read run by run)' if sharded else 'one global storage id'}{defaults}",
        )
        problems += _check_sensor(instance, sensor_name)
        if settings_problems:
            raise click.ClickException(f"{problems} problem(s) found; fix the settings first")
        catalog, trouble = _check_definitions(container, target)
        problems += trouble
        problems += _check_transport(container)
        problems += _check_cursor(
            container, instance, sensor_name, _source(container, instance, catalog)
        )
        problems += _check_dead_letters(container, instance, sensor_name)
    if problems:
        raise click.ClickException(f"{problems} problem(s) found")
    click.echo("all good")


def _check_settings(container: Container) -> int:
    """The settings, and what they select: which runs and assets send lineage, under which
    job namespace, with which facets hook."""
    try:
        settings = container.settings()
        hook = container.facets_hook()
    except OlDagsterError as error:
        _say("settings", str(error), ok=False)
        return 1
    _say("selection", settings.selection.describe() + " (OL_DAGSTER_INCLUDE, OL_DAGSTER_EXCLUDE)")
    namespace = settings.ol_dagster_job_namespace
    _say("jobs", f"namespace {namespace}" if namespace else "namespace: each run's code location")
    _say("facets", f"hook {hook.name}" if hook is not None else "no facets hook")
    return 0


def _check_sensor(instance: DagsterInstance, sensor_name: str) -> int:
    """A sensor name with a typo would report on nothing: name the sensors the instance has."""
    sensors = sorted(
        {
            s.instigator_name
            for s in instance.all_instigator_state()
            if getattr(s.instigator_type, "value", s.instigator_type) == "SENSOR"
        }
    )
    if not sensors or sensor_name in sensors:
        return 0
    _say(
        "sensor",
        f"no sensor named {sensor_name!r} on this instance; its sensors: {', '.join(sensors)} "
        "(give the one to check with --sensor-name)",
        ok=False,
    )
    return 1


def _check_definitions(container: Container, target: dict[str, Any]) -> tuple[Catalog, int]:
    """Which asset definitions the commands name assets from, and what loading them cost."""
    started = time.monotonic()
    local = _local_definitions(container, **target)
    _say(
        "locations",
        f"{local.locations} code locations loaded here, {local.assets} assets, "
        f"in {time.monotonic() - started:.1f} s (-w/-m/-f, else ./workspace.yaml)",
    )
    definitions = container.definitions(local=local)
    url = container.settings().ol_dagster_graphql_url
    if url:
        started = time.monotonic()
        try:
            definitions.asset(("ol-dagster", "doctor", "probe"))  # asks the webserver once
        except OlDagsterError as error:
            _say("graphql", str(error), ok=False)
            return container.asset_catalog(definitions=local), 1
        parts = urlsplit(url)  # shown without its userinfo: a password never goes to a log
        shown = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
        _say("graphql", f"{shown} answered in {time.monotonic() - started:.2f} s")
    catalog: Catalog = container.asset_catalog(definitions=definitions)
    return catalog, 0


def _say(topic: str, text: str, ok: bool = True) -> None:
    click.echo(f"{'ok' if ok else 'PROBLEM':>7}  {topic:<10} {text}")


def _check_transport(container: Container) -> int:
    try:
        transport = container.openlineage_client().transport
    except OlDagsterError as error:
        _say("transport", str(error), ok=False)
        return 1
    emitter: Delivery = container.emitter()
    if emitter.disabled:
        _say("transport", f"{DISABLED}: unset OPENLINEAGE_DISABLED to send", ok=False)
        return 1
    url = getattr(transport, "url", None)
    described = container.transport_description(transport)
    check = emitter.confirmation
    settings = container.settings()
    namespace = settings.ol_dagster_job_namespace or settings.openlineage_namespace
    if not isinstance(url, str):
        acknowledged = getattr(transport, "kind", None) in ("kafka", "msk-iam")
        unchecked = "" if acknowledged else " (the backend is not checked for this transport)"
        _say("transport", f"{described}{unchecked}")
    _say(
        "delivery",
        check.text if check.confirmed else f"not confirmed: {check.text}",
        ok=not check.refused,
    )
    if check.refused:
        return 1
    if not isinstance(url, str):
        if not acknowledged:
            return 0
        refused = emitter.probe(namespace)  # a probe the brokers must acknowledge
        if refused is not None:
            _say("backend", f"Kafka {refused}", ok=False)
            return 1
        _say("backend", f"the brokers acknowledge events (sent job {PROBE_JOB} as a probe)")
        return 0
    parts = urlsplit(url)
    _say(
        "transport",
        f"{described} (credentials, if any, not shown)",
    )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=5):
            pass
    except OSError as error:
        _say(
            "backend",
            f"{parts.hostname}:{port} does not answer: {error.strerror or error}",
            ok=False,
        )
        return 1
    refused = emitter.probe(namespace)
    if refused is not None:
        _say("backend", f"{parts.hostname}:{port} {refused}", ok=False)
        return 1
    _say("backend", f"{parts.hostname}:{port} accepts events (sent job {PROBE_JOB} as a probe)")
    return 0


def _check_dead_letters(container: Container, instance: DagsterInstance, name: str) -> int:
    letters = container.dead_letter_box(instance=instance, name=name).letters()
    if not letters:
        _say("refused", "no dead letters: the backend refused no event for good")
        return 0
    refused = [letter for letter in letters if not letter.set_aside]
    aside = sorted({letter.dagster_job for letter in letters if letter.set_aside})
    unsent = len(letters) - len(refused)
    latest = max(refused or letters, key=lambda letter: letter.refused_at)
    _say(
        "refused",
        f"{len(letters)} dead letters: {len(refused)} events the backend refused for good, "
        f"the latest {latest.describe()}: {latest.reason}"
        + (
            f"; {unsent} events of jobs it refuses set aside unsent ({', '.join(aside[:5])})"
            if unsent
            else ""
        )
        + ". Look at them with `ol-dagster dead-letters list`; once the backend or the events "
        "are fixed, `ol-dagster dead-letters resend`",
        ok=False,
    )
    return 1


def _check_cursor(
    container: Container, instance: DagsterInstance, sensor_name: str, source: EventSource
) -> int:
    states = [s for s in instance.all_instigator_state() if s.instigator_name == sensor_name]
    cursor = next((getattr(s.instigator_data, "cursor", None) for s in states), None)
    if not cursor:
        _say("cursor", f"sensor {sensor_name!r} has no cursor yet (it has not ticked)")
        return 0
    try:
        state = _decoded(container, cursor, source)
    except OlDagsterError as error:
        _say("cursor", str(error), ok=False)
        return 1
    assert state is not None  # the cursor is not empty
    try:
        ids_behind = source.storage_ids_behind(state.position)
        waiting = source.gaps_note(state.position)
        ahead = source.ahead_of_log(state.position, state.log_time)
        if ahead is not None:
            raise CursorError(ahead, hint=AHEAD_OF_LOG_HINT)
    except OlDagsterError as error:  # ahead of the log, or the log unreadable
        _say("cursor", str(error), ok=False)
        return 1
    behind = f"{ids_behind:,}" if ids_behind is not None else "?"
    age = (
        f", newest record read {time.time() - state.log_time:,.0f} s ago" if state.log_time else ""
    )
    _say(
        "cursor",
        f"{len(state.runs.runs)} runs open, {len(cursor):,} bytes, "
        f"{behind} storage ids behind the log{age}" + (f"; {waiting}" if waiting else ""),
    )
    return 0


@cli.group(name="dead-letters", cls=_Commands)
def dead_letters() -> None:
    """Events the backend refused for good (HTTP 400, 422, ...), kept in the instance."""


_NAME = click.option(
    "--sensor-name",
    default="openlineage_sensor",
    show_default=True,
    help=f"Whose letters: a sensor's, or `{REPLAY}` for those of `ol-dagster replay`.",
)


@dead_letters.command(name="list")
@_NAME
@click.option(
    "--events", is_flag=True, help="Print each letter's event as it would be sent, as JSON lines."
)
@_definitions_options
def list_letters(sensor_name: str, events: bool, **target: Any) -> None:
    """Each refused event: which record it came from and what the backend answered."""
    container = Container()
    with _instance(container) as instance:
        letters = container.dead_letter_box(instance=instance, name=sensor_name).letters()
        if events:
            source = _source(container, instance, _catalog(container, **target))
            found = letter_events(source, container.translator(), letters)
            printer = container.printing_emitter(stream=sys.stdout)
            printer.emit([event for _, events in found for event in events or ()])
    if not events:
        for letter in letters:
            refused_at = datetime.fromtimestamp(letter.refused_at, timezone.utc).isoformat()
            said = "set aside" if letter.set_aside else "refused"
            click.echo(f"{letter.key}  {letter.describe()}, {said} {refused_at}: {letter.reason}")
    unsent = sum(letter.set_aside for letter in letters)
    click.echo(
        f"{len(letters)} dead letters of {sensor_name}"
        + (f" ({unsent} set aside unsent)" if unsent else ""),
        err=True,
    )


@dead_letters.command()
@_NAME
@click.argument("keys", nargs=-1)
@_definitions_options
def resend(sensor_name: str, keys: tuple[str, ...], **target: Any) -> None:
    """Send the letters' events (all, or those KEYS), translated again from the event log as
    the sensor translated them; those the backend accepts are removed, those it refuses again
    kept with its new answer. Give the workspace the sensor's deployment runs (-w/-m/-f), so
    that assets are named as the sensor named them."""
    container = Container()
    with _instance(container) as instance:
        box = container.dead_letter_box(instance=instance, name=sensor_name)
        letters = [letter for letter in box.letters() if not keys or letter.key in keys]
        _unknown(keys, letters)
        source = _source(container, instance, _catalog(container, **target))
        done = resend_letters(source, container.translator(), _sending_emitter(container), letters)
        # a letter a tick refused again meanwhile stays; those refused again here stay too (the
        # commands never write the ticks' chunks: their new answer is printed below)
        box.remove(done.accepted)
    click.echo(f"resent {len(done.accepted)} of {len(letters)} dead letters of {sensor_name}")
    for letter in done.refused[:20]:
        click.echo(f"refused again: {letter.describe()}: {letter.reason}")
    for letter in done.gone[:20]:
        click.echo(f"not in the event log any more (kept; `drop` forgets it): {letter.describe()}")
    for letter in done.untranslated[:20]:
        click.echo(f"still cannot be translated (kept): {letter.describe()}: {letter.reason}")
    if done.failure is not None:
        raise click.ClickException(
            f"{done.failure}. The rest are kept; run the same command again."
        )
    if done.refused:
        raise click.ClickException(f"{len(done.refused)} refused again; they are kept")


@dead_letters.command()
@_NAME
@click.argument("keys", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Drop every letter.")
def drop(sensor_name: str, keys: tuple[str, ...], everything: bool) -> None:
    """Forget letters for good (those KEYS, or --all): their events are never sent."""
    if not keys and not everything:
        raise click.ClickException("name the letters to drop (keys from `list`), or give --all")
    container = Container()
    with _instance(container) as instance:
        box = container.dead_letter_box(instance=instance, name=sensor_name)
        letters = [letter for letter in box.letters() if everything or letter.key in keys]
        _unknown(keys, letters)
        box.remove(letters)
    click.echo(f"dropped {len(letters)} dead letters of {sensor_name}")


def _unknown(keys: tuple[str, ...], found: list[DeadLetter]) -> None:
    missing = sorted(set(keys) - {letter.key for letter in found})
    if missing:
        raise click.ClickException(
            f"no dead letter {', '.join(missing)}: `ol-dagster dead-letters list` shows the keys"
        )
