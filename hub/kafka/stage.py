"""The stage contract: what a stream-processing stage is, what it produces, and its dead letters.

A stage is a name, a consumer group, its input topics, its dead-letter topic and a batch
function; :class:`~hub.kafka.loop.StageRunner` is the thin loop around it. The contract, for
every stage:

- every input record yields what the stage decides for it, in order;
- a record the stage cannot process goes to the stage's dead-letter topic, unchanged, with
  ``__hub.errors.*`` headers saying where it was read, which stage refused it, the reason code
  and the error (in the style of Kafka Connect's ``__connect.errors.*``); it never blocks the
  records behind it. A stage dead-letters what it recognises itself; anything else it raises
  for one record, :func:`process_isolating` dead-letters as ``UNPROCESSABLE_RECORD``;
- only failures of the infrastructure (:data:`INFRASTRUCTURE`: the broker, the database, the
  national exchange) are retried: the batch is rewound and tried again;
- a :data:`FATAL` failure (an archive that cannot be written) stops the stage, and the hub.

A stage that waits on something slow (the forwarder on the national exchange) may also be a
:class:`PipelinedStage`: ``start`` begins a batch and returns the function that finishes it, so
the runner can start the next batch before it finishes this one, and the stage and what it
waits on each work while the other does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, cast, overload, runtime_checkable

from confluent_kafka import Message

from hub.errors import ArchiveError, BrokerError, DatabaseError, ExchangeError

__all__ = [
    "FATAL",
    "INFRASTRUCTURE",
    "UNPROCESSABLE",
    "Finish",
    "Headers",
    "OutMessage",
    "Outputs",
    "PipelinedStage",
    "Stage",
    "dead_letter",
    "offset",
    "position",
    "process_isolating",
]

_log = logging.getLogger("hub.stage")
Headers = list[tuple[str, str | bytes | None]]
INFRASTRUCTURE: tuple[type[Exception], ...] = (BrokerError, DatabaseError, ExchangeError)
# Failures that stop the hub: neither a record's fault nor worth retrying (an archive that
# cannot be written must not fall behind unseen).
FATAL: tuple[type[Exception], ...] = (ArchiveError,)
UNPROCESSABLE = "UNPROCESSABLE_RECORD"  # a record that made the stage raise


@dataclass(frozen=True, slots=True)
class OutMessage:
    """A record a stage wants produced."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default_factory=list)


class Outputs(Sequence[OutMessage]):
    """The messages a stage wants produced for one batch, kept as columns.

    A stage with one output per input fills the columns in place (see :meth:`sized`), so a
    batch of tens of thousands costs no object per message; read as a sequence, it is
    :class:`OutMessage` objects, in order. ``timestamps``: each output's timestamp (ms; 0 or
    less: the time it is produced), or None for all produced now; a stage with one output per
    input gives each its input's (:meth:`stamped_as`), so an output keeps the time its record
    was published, whenever (and however often) it is processed.
    """

    __slots__ = ("headers", "keys", "timestamps", "topics", "values")

    def __init__(self, messages: Iterable[OutMessage] = ()) -> None:
        self.topics: list[str] = []
        self.keys: list[bytes | None] = []
        self.values: list[bytes | None] = []
        self.headers: list[Headers | None] = []
        self.timestamps: list[int] | None = None
        for message in messages:
            self.append(message)

    @classmethod
    def of(cls, messages: Sequence[OutMessage]) -> Outputs:
        """``messages`` as columns (themselves, when they already are)."""
        return messages if isinstance(messages, Outputs) else cls(messages)

    @classmethod
    def sized(cls, n: int, topic: str) -> Outputs:
        """``n`` outputs to ``topic``, without keys, values or headers yet."""
        outputs = cls()
        outputs.topics, outputs.keys, outputs.values = [topic] * n, [None] * n, [None] * n
        outputs.headers = [None] * n
        return outputs

    def stamped_as(self, batch: Sequence[Message]) -> Outputs:
        """Give output ``i`` the timestamp of ``batch[i]`` (one output per input)."""
        assert len(batch) == len(self.topics), "one output per input"
        self.timestamps = [m.timestamp()[1] for m in batch]
        return self

    def append(self, message: OutMessage) -> None:
        self.topics.append(message.topic)
        self.keys.append(message.key)
        self.values.append(message.value)
        self.headers.append(message.headers or None)

    def put(self, i: int, message: OutMessage) -> None:
        """Make output ``i`` ``message``."""
        self.topics[i], self.keys[i], self.values[i] = message.topic, message.key, message.value
        self.headers[i] = message.headers or None

    def __len__(self) -> int:
        return len(self.topics)

    @overload
    def __getitem__(self, i: int) -> OutMessage: ...

    @overload
    def __getitem__(self, i: slice) -> list[OutMessage]: ...

    def __getitem__(self, i: int | slice) -> OutMessage | list[OutMessage]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return OutMessage(self.topics[i], self.keys[i], self.values[i], self.headers[i] or [])

    def __iter__(self) -> Iterator[OutMessage]:
        for i in range(len(self)):
            yield self[i]


def position(message: Message) -> tuple[str, int]:
    """(topic, partition) of a consumed message."""
    return cast(str, message.topic()), cast(int, message.partition())


def offset(message: Message) -> int:
    """Offset of a consumed message."""
    return cast(int, message.offset())


class Stage(Protocol):
    """A stream processor: a name, its consumer group, its inputs, its dead letters, a batch function.

    ``process`` may be called more than once before ``committed`` (a batch isolated record by
    record): what it counts accumulates until ``committed`` applies it or ``discard`` drops it.
    """

    name: str
    group: str
    inputs: tuple[str, ...]
    dead_letters: str

    def process(self, batch: list[Message]) -> Sequence[OutMessage]:
        """Turn a batch of input messages into the messages to produce (a list, or
        :class:`Outputs` for many), dead letters included."""
        ...

    def committed(self) -> None:
        """Called once the outputs so far are delivered and their offsets committed."""
        ...

    def discard(self) -> None:
        """Forget what ``process`` did since the last commit: those outputs were not delivered."""
        ...

    def close(self) -> None:
        """Release what the stage opened (clients, connections); called once, when it stops."""
        ...


Finish = Callable[[], Sequence[OutMessage]]


@runtime_checkable
class PipelinedStage(Stage, Protocol):
    """A stage that can begin its next batch before it has finished this one.

    ``start(batch)`` begins the work (sends requests, say) and returns at once with the function
    that waits for it and returns the outputs, as ``process(batch)`` would (which must still
    work: ``start(batch)()``). The runner finishes batches in the order it started them, and
    calls ``committed`` (or ``discard``) after each finish; what a finish counts belongs to its
    own batch.
    """

    def start(self, batch: list[Message]) -> Finish: ...


def dead_letter(
    message: Message, topic: str, stage: str, reason: str, detail: str, error: str = ""
) -> OutMessage:
    """``message`` unchanged (key, value, headers) for dead-letter ``topic``, with headers saying
    where it was read, who refused it and why."""
    where, partition = position(message)
    headers = message.headers() or []
    out: Headers = list(headers.items()) if isinstance(headers, dict) else list(headers)
    out += [
        ("__hub.errors.topic", where.encode()),
        ("__hub.errors.partition", str(partition).encode()),
        ("__hub.errors.offset", str(offset(message)).encode()),
        ("__hub.errors.stage", stage.encode()),
        ("__hub.errors.reason", reason.encode()),
        ("__hub.errors.message", detail.encode()),
    ]
    if error:
        out.append(("__hub.errors.exception", error.encode()))
    return OutMessage(topic, message.key(), message.value(), out)


def process_isolating(stage: Stage, batch: list[Message]) -> Sequence[OutMessage]:
    """``stage.process(batch)``; if it raises for anything but the infrastructure, the batch again
    record by record, each record it still raises for dead-lettered as :data:`UNPROCESSABLE`."""
    try:
        return stage.process(batch)
    except (*INFRASTRUCTURE, *FATAL):
        raise
    except Exception as exc:
        _log.warning(
            "%s: a batch of %d failed (%s); isolating the record(s) at fault", stage.name, len(batch), exc
        )
        stage.discard()
    outputs, stamps = Outputs(), []
    for message in batch:
        try:
            produced = stage.process([message])
            stamped = isinstance(produced, Outputs) and produced.timestamps is not None
            stamps += cast(Outputs, produced).timestamps or [] if stamped else [0] * len(produced)
        except (*INFRASTRUCTURE, *FATAL):
            stage.discard()
            raise
        except Exception as exc:
            where = f"{message.topic()}[{message.partition()}]@{message.offset()}"
            _log.warning(
                "%s: dead-lettering the record at %s: %s: %s", stage.name, where, type(exc).__name__, exc
            )
            produced = [
                dead_letter(
                    message, stage.dead_letters, stage.name, UNPROCESSABLE, str(exc), type(exc).__name__
                )
            ]
            stamps.append(message.timestamp()[1])  # a dead letter keeps its record's time
        for out in produced:
            outputs.append(out)
    outputs.timestamps = stamps
    return outputs
