"""Archiving: every hub topic into the auditors' hash-chained archive (:mod:`hub.archive`)."""

from consumers.archive.stage import ArchiveStage, build

__all__ = ["ArchiveStage", "build"]
