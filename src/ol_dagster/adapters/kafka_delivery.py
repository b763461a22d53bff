"""Kafka with the brokers' acknowledgement: a page's events are produced, then the producer is
flushed until the tick's deadline, and only the events whose delivery reports came back without
an error, from the first on, count as accepted.

openlineage-python's `kafka` transport produces each event with a callback that logs a failed
delivery and returns: a cursor moved on behind it would pass events no broker took. This sends
through that transport's own producer (built by the client from the user's `config`, including
`msk-iam`'s token callback), to its `topic`, keyed as it keys (`messageKey`, else `message_key`).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from openlineage.client.transport.kafka import KafkaTransport

from ol_dagster.domain.ports import EmitResult

if TYPE_CHECKING:
    from confluent_kafka import KafkaError, Message, Producer

logger = logging.getLogger("ol_dagster")

GRACE_SECONDS = 1.0
"""How far past the tick's deadline the producer is flushed: a page produced with little time
left still gets this long for its acknowledgements."""


_SECRET_SETTINGS = ("password", "secret", "token", "key.pem", "credential")
"""Words of librdkafka settings whose values are credentials (`sasl.password`,
`sasl.oauthbearer.client.secret`, `ssl.key.password`, `ssl.key.pem`, ...)."""


def message_key(event: Mapping[str, Any]) -> str | None:
    """The key openlineage-python's Kafka transport gives an event (`_get_message_key`), from
    its JSON: a dataset or job event by its dataset or job; a run event by the job of its
    parent's root, else of its parent, else its own, so that a run, its steps and their
    re-executions share a partition, in order. `test_kafka_delivery` holds it to the client's.
    """
    if "dataset" in event:
        dataset = event["dataset"]
        return f"dataset:{dataset['namespace']}/{dataset['name']}"
    job = event.get("job") or {}
    if "run" not in event:
        return f"job:{job.get('namespace')}/{job.get('name')}" if job else None
    parent = ((event["run"].get("facets") or {}).get("parent")) or {}
    named = (parent.get("root") or {}).get("job") or parent.get("job") or {}
    if named.get("namespace") and named.get("name"):
        return f"run:{named['namespace']}/{named['name']}"
    return f"run:{job.get('namespace')}/{job.get('name')}"


class KafkaDelivery:
    """Sends events through a `KafkaTransport`'s producer and waits for the brokers."""

    def __init__(self, transport: KafkaTransport) -> None:
        self._transport = transport

    @property
    def where(self) -> str:
        """The topic and the brokers, for people (the config's other settings may hold
        credentials: never shown)."""
        servers = self._transport.kafka_config.config.get("bootstrap.servers", "?")
        return f"topic {self._transport.topic} at {servers}"

    def send(self, texts: Sequence[str | None], deadline: float) -> EmitResult:
        """Produces each JSON text (None: one the client's filters drop, counted as sent), in
        order, then flushes until `deadline` (plus `GRACE_SECONDS`). The accepted events are
        the acknowledged ones up to the first that was not; the producer's queue is then
        purged, so that the next attempt sends them again in their order."""
        from confluent_kafka import KafkaException  # installed: the client made a producer

        producer = self._producer()
        reports: dict[int, KafkaError | None] = {}
        not_taken: tuple[int, KafkaError | Exception] | None = None
        for index, text in enumerate(texts):
            if text is None:
                reports[index] = None
                continue
            try:
                self._produce(producer, index, text, reports, deadline + GRACE_SECONDS)
            except KafkaException as refused:  # a message too large, an unknown setting, ...
                not_taken = (index, refused.args[0] if refused.args else refused)
                break
            except Exception as other:  # noqa: BLE001  (what the producer raised is the reason)
                not_taken = (index, other)
                break
        # No deadline: until every report is in (librdkafka ends each by message.timeout.ms).
        # -1, not inf: confluent-kafka 2.1 takes an infinite timeout as none.
        wait = -1 if math.isinf(deadline) else max(deadline - time.monotonic() + GRACE_SECONDS, 0)
        left = producer.flush(wait)
        accepted = 0
        while accepted in reports and reports[accepted] is None:
            accepted += 1
        if accepted == len(texts):
            return EmitResult(accepted=accepted)
        report = reports.get(accepted)  # what the broker said, before the purge's own reports
        if left:
            producer.purge(in_queue=True, in_flight=True, blocking=False)
            producer.poll(0)
        if report is not None:
            return self._failed(accepted, report, texts[accepted])
        if not_taken is not None and not_taken[0] == accepted:
            cause = not_taken[1]
            if isinstance(cause, Exception):
                reason = (
                    f"Kafka did not take an event ({self.where}): {type(cause).__name__}: {cause}"
                )
                return EmitResult(accepted=accepted, failure=self._masked(reason))
            return self._failed(accepted, cause, texts[accepted])
        return EmitResult(
            accepted=accepted,
            failure=(
                f"Kafka: no acknowledgement from the brokers ({self.where}) for "
                f"{len(texts) - accepted} of {len(texts)} events by the tick's deadline"
            ),
        )

    def _producer(self) -> Producer:
        transport = self._transport
        if transport.producer is None:  # closed, or never made (the client's Airflow case)
            transport._setup_producer(transport.kafka_config.config)
        assert transport.producer is not None
        return transport.producer

    def _produce(
        self,
        producer: Producer,
        index: int,
        text: str,
        reports: dict[int, KafkaError | None],
        until: float,
    ) -> None:
        """Hands one event to the producer; raises TimeoutError when its queue stays full (the
        brokers down) past `until`, so that a tick never waits out `message.timeout.ms`."""

        def delivered(error: KafkaError | None, _message: Message) -> None:
            reports[index] = error

        key = self._transport.message_key or message_key(json.loads(text))
        while True:
            try:
                producer.produce(
                    self._transport.topic,
                    value=text.encode("utf-8"),
                    key=key,
                    on_delivery=delivered,
                )
            except BufferError:  # the producer's queue is full: let it deliver some first
                if time.monotonic() >= until:
                    raise TimeoutError(
                        "the producer's queue stayed full until the tick's deadline"
                    ) from None
                producer.poll(0.1)
            else:
                return

    def _masked(self, text: str) -> str:
        """`text` without the values of the config's secret settings (`sasl.password`, ...)."""
        for name, value in self._transport.kafka_config.config.items():
            secret = any(word in name.lower() for word in _SECRET_SETTINGS)
            if secret and isinstance(value, str) and len(value) >= 4:
                text = text.replace(value, "***")
        return text

    def _failed(self, accepted: int, error: KafkaError, text: str | None) -> EmitResult:
        """A delivery report's error (or the producer's, for an event it did not take): what
        the broker said. A message too large is refused
        for good (a dead letter); any other may pass when sent again. A fatal error leaves the
        producer unusable: a new one is made for the next attempt."""
        reason = self._masked(
            f"Kafka did not acknowledge an event ({self.where}): {error.name()}: {error.str()}"
        )
        logger.warning("ol-dagster: emit failed after %d events: %s", accepted, reason)
        if error.fatal():
            self._transport.producer = None
        from confluent_kafka import KafkaError

        too_large = error.code() == KafkaError.MSG_SIZE_TOO_LARGE
        return EmitResult(
            accepted=accepted,
            failure=reason,
            retryable=not too_large,
            refused=text if too_large else None,
        )
