"""The auditors' archive: every hub topic kept in hash-chained Avro segments (:mod:`.segments`,
:mod:`.chain`), readable and verifiable without the broker or the hub's database."""

from hub.archive.chain import ArchivedRecord
from hub.archive.message import archived_record
from hub.archive.segments import ArchiveWriter
from hub.archive.verify import Verdict, verify

__all__ = ["ArchiveWriter", "ArchivedRecord", "Verdict", "archived_record", "verify"]
