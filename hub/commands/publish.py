"""``hub publish``: publish a department's CSV or JSON-lines export (being written)."""

from __future__ import annotations


def publish() -> None:
    """Publish a department's export file (not written yet)."""
    raise NotImplementedError
