"""The hub's errors. Every error the hub raises on purpose derives from :class:`HubError`.

Hierarchy::

    HubError
    ├── ConfigError              settings that cannot be used
    ├── BrokerError              the Kafka broker cannot be started or reached
    │   └── BrokerStartError     the embedded broker did not come up
    ├── TopicError               a topic that is not declared or cannot be created
    ├── DatabaseError            the SQL database cannot be reached or used
    ├── SchemaError              a schema that is missing, invalid or not registered
    │   └── IncompatibleSchemaError  a schema that breaks its subject's compatibility level
    ├── RecordError              a record that cannot be encoded or decoded
    │   ├── RecordEncodeError    a record that does not match its schema
    │   └── RecordDecodeError    bytes that are not a valid hub record (carries a reason code)
    ├── ExchangeError            the national exchange refused or could not be reached
    ├── ArchiveError             the audit archive cannot be written or is not an archive
    ├── Interrupted              the user pressed Ctrl-C or the process got SIGTERM
    ├── PortInUseError           a TCP port the hub was told to use is taken
    └── InputError               a file or argument from the user that cannot be used

Third-party exceptions are translated into these at the seam where the hub calls the library,
with ``raise ... from exc``, so the CLI can print a one-line message for any of them.
"""

from __future__ import annotations

__all__ = [
    "ArchiveError",
    "BrokerError",
    "BrokerStartError",
    "ConfigError",
    "DatabaseError",
    "ExchangeError",
    "HubError",
    "IncompatibleSchemaError",
    "InputError",
    "Interrupted",
    "PortInUseError",
    "RecordDecodeError",
    "RecordEncodeError",
    "RecordError",
    "SchemaError",
    "TopicError",
]


class HubError(Exception):
    """Root of every error the hub raises on purpose; its message is meant for the user."""


class ConfigError(HubError):
    """Raised when a setting (environment variable or option) has a value the hub cannot use."""


class BrokerError(HubError):
    """Raised when the Kafka broker cannot be reached or answers with an error."""


class BrokerStartError(BrokerError):
    """Raised when the embedded broker process exits early or does not answer in time."""


class TopicError(HubError):
    """Raised for a topic name that is not declared, or a topic the broker will not create."""


class DatabaseError(HubError):
    """Raised when the SQL database in ``HUB_DATABASE_URL`` cannot be reached or used."""


class SchemaError(HubError):
    """Raised for an Avro schema that is invalid, missing, or not registered."""


class RecordError(HubError):
    """Raised for a record that cannot be turned into bytes or back."""


class RecordEncodeError(RecordError):
    """Raised when a record does not match its schema; the message names the field."""


class RecordDecodeError(RecordError):
    """Raised for bytes that are not a hub record; ``reason`` is a machine-readable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ExchangeError(HubError):
    """Raised when the national exchange cannot be reached or keeps failing after retries."""


class ArchiveError(HubError):
    """The archive cannot be written or read: a directory that is not one, a chain it cannot continue."""


class Interrupted(HubError):
    """Raised inside long work when Ctrl-C or SIGTERM asked it to stop."""


class PortInUseError(HubError):
    """Raised when a TCP port the hub was told to listen on is already taken."""


class InputError(HubError):
    """A file or argument given by the user cannot be used (unreadable, wrong format, missing columns)."""


class IncompatibleSchemaError(SchemaError):
    """Raised when a schema registered under a subject breaks the subject's compatibility level."""
