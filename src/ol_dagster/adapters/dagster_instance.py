"""The Dagster instance of `DAGSTER_HOME`, opened for a command: what its dagster.yaml or its
storage refuse becomes a `StorageError` in one line, without credentials.

Opening an instance runs none of ol-dagster's code, so every failure there is the instance's
(its YAML, its storage classes, its files, its database): all are translated. While the instance
is used, only the storage's own failures are (`sqlalchemy`'s `OperationalError`, which the DBAPI
raises for a database that refuses or is gone, and dagster-postgres's "too many retries"): any
other exception is left as it is, a bug to see.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy.exc
import yaml
from dagster import DagsterInstance

from ol_dagster.adapters.openlineage_emitter import redact
from ol_dagster.domain.errors import StorageError

_STORAGE_FAILURES: tuple[type[Exception], ...] = (sqlalchemy.exc.OperationalError,)
try:  # an optional dependency: an instance on PostgreSQL needs it, no other does
    from dagster_postgres.utils import DagsterPostgresException
except ImportError:  # pragma: no cover - without dagster-postgres
    pass
else:
    _STORAGE_FAILURES += (DagsterPostgresException,)

PROBE_SECONDS = 3.0
"""How long the PostgreSQL server of dagster.yaml may take to accept a TCP connection before the
command gives up: Dagster itself retries for about 12 s, with a warning a try."""


@contextmanager
def open_instance(home: Path) -> Iterator[DagsterInstance]:
    """The instance of `home` (which is DAGSTER_HOME), its failures as `StorageError`s."""
    config = _config(home)
    _probe_postgres(home, config)
    try:
        instance = DagsterInstance.get()
    except Exception as error:  # noqa: BLE001  (only Dagster's code ran, on the user's instance)
        raise StorageError(_opening_failure(home, config, error)) from None
    try:
        with instance:
            yield instance
    except _STORAGE_FAILURES as error:
        raise StorageError(
            f"the storage of the Dagster instance failed: {_storage_failure(home, config, error)}"
        ) from None


def _opening_failure(home: Path, config: Any, error: Exception) -> str:
    what = f"cannot open the Dagster instance of DAGSTER_HOME={home}"
    if isinstance(error, OSError):
        return (
            f"{what}: {_shown(home, config, error)}. The user running ol-dagster must be able to "
            "read and write DAGSTER_HOME, as Dagster's daemon and webserver do"
        )
    if isinstance(error, _STORAGE_FAILURES):
        return f"{what}: {_storage_failure(home, config, error)}"
    shown = _shown(home, config, error)
    package = ", or install the package of the class it names" if "class" in shown else ""
    return f"{what}: {shown}. Fix {home / 'dagster.yaml'}{package}"


def _storage_failure(home: Path, config: Any, error: Exception) -> str:
    root = _root_cause(error)
    detail = _shown(home, config, root)
    if "readonly database" in detail or "unable to open database file" in detail:
        return (
            f"{detail}. Dagster writes to the instance even to read it: the user running "
            f"ol-dagster must be able to write DAGSTER_HOME={home}"
        )
    return (
        f"{detail}. Start the database, or fix its settings in {home / 'dagster.yaml'}; "
        "then run the same command again"
    )


def _root_cause(error: BaseException) -> BaseException:
    """The database driver's own error, under SQLAlchemy's and Dagster's wrappings."""
    while True:
        inner = getattr(error, "orig", None) or error.__cause__
        if not isinstance(inner, BaseException):
            return error
        error = inner


def _shown(home: Path, config: Any, error: BaseException) -> str:
    """The error on one line, its class named, without the values of dagster.yaml's secrets
    nor the credentials of any URL."""
    text = " ".join(str(error).split())
    named = text if text.startswith(type(error).__name__) else f"{type(error).__name__}: {text}"
    for secret in _secrets(config):
        named = named.replace(secret, "***")
    return redact(named)


_SECRET = re.compile(r"pass|secret|token|key|credential", re.IGNORECASE)


def _secrets(config: Any) -> Iterator[str]:
    """Every value of dagster.yaml under a key that names a secret (`password: ...`, or
    `password: {env: VAR}` as that variable is set), longest first."""
    found: set[str] = set()

    def walk(value: Any, secret: bool) -> None:
        if isinstance(value, dict):
            if secret and set(value) == {"env"} and isinstance(value["env"], str):
                walk(os.environ.get(value["env"]), True)
            for key, item in value.items():
                walk(item, secret or bool(_SECRET.search(str(key))))
        elif isinstance(value, list):
            for item in value:
                walk(item, secret)
        elif secret and value is not None and len(str(value)) >= 3:
            found.add(str(value))

    walk(config, False)
    yield from sorted(found, key=len, reverse=True)


def _config(home: Path) -> Any:
    """dagster.yaml as YAML, for its secrets and its PostgreSQL server (None if it has none,
    or does not parse: Dagster then says what is wrong)."""
    try:
        return yaml.safe_load((home / "dagster.yaml").read_text())
    except (OSError, ValueError, yaml.YAMLError):
        return None


def _probe_postgres(home: Path, config: Any) -> None:
    """A PostgreSQL server of dagster.yaml that refuses connections fails the command at once,
    rather than after Dagster's 12 s of retries."""
    for host, port in _postgres_servers(config):
        try:
            with socket.create_connection((host, port), timeout=PROBE_SECONDS):
                pass
        except OSError as error:
            raise StorageError(
                f"cannot open the Dagster instance of DAGSTER_HOME={home}: its PostgreSQL "
                f"server {host}:{port} does not answer ({error.strerror or error}). Start it, "
                f"or fix its hostname and port in {home / 'dagster.yaml'}"
            ) from None


def _postgres_servers(config: Any) -> list[tuple[str, int]]:
    """The TCP servers of dagster.yaml's PostgreSQL storages, as Dagster's documented
    `postgres_db:` or `postgres_url:` name them; a server named otherwise (a Unix socket, a
    `params:` host) is left to Dagster."""
    if not isinstance(config, dict):
        return []
    settings = []
    storage = config.get("storage")
    if isinstance(storage, dict):
        settings.append(storage.get("postgres"))
    for name in ("run_storage", "event_log_storage", "schedule_storage"):
        section = config.get(name)
        if isinstance(section, dict) and str(section.get("module")).startswith("dagster_postgres"):
            settings.append(section.get("config"))
    servers: list[tuple[str, int]] = []
    for setting in settings:
        server = _server(setting) if isinstance(setting, dict) else None
        if server is not None and server not in servers:
            servers.append(server)
    return servers


def _server(setting: dict[str, Any]) -> tuple[str, int] | None:
    db = setting.get("postgres_db")
    if isinstance(db, dict):
        host, port = _value(db.get("hostname")), _value(db.get("port", 5432))
        if db.get("params"):
            return None
    else:
        url = _value(setting.get("postgres_url"))
        if not isinstance(url, str):
            return None
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port or 5432
        except ValueError:
            return None
        if parts.query:
            return None
    if not isinstance(host, str) or not host or host.startswith("/"):
        return None
    try:
        return host, int(port)
    except (TypeError, ValueError):
        return None


def _value(setting: Any) -> Any:
    """A setting of dagster.yaml, or the variable it names (`{env: VAR}`)."""
    if isinstance(setting, dict) and set(setting) == {"env"}:
        return os.environ.get(str(setting["env"]))
    return setting
