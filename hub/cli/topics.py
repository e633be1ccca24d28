"""``hub topics``: the topics the hub declares."""

from __future__ import annotations

__all__ = ["topics"]


def topics() -> None:
    """List the topics the hub declares: partitions, key and value schema.

    Topic names are never cut: they are what the next command takes. Piped, the list is
    plain tab-separated lines.
    """
    from rich.table import Table

    from hub.cli.console import print_table
    from hub.topics import ALL_TOPICS

    table = Table("topic", "partitions", "key", "value schema", "what")
    for t in ALL_TOPICS:
        table.add_row(t.name, str(t.partitions), t.key, t.value_schema or "(original bytes)", t.description)
    print_table(table, whole=(0, 2, 3))
