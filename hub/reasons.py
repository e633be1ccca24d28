"""Reason codes a stage gives for what it decided about a record.

They are the contract with agencies and auditors: the reconciliation outcome of every record
(``hub_reconcile_outcomes_total{reason}``, ``vn.lgsp.ReconciledRecord.reason``) and, for a refused
record, the ``__hub.errors.reason`` header on its dead-letter topic. The simulator's ground truth
names the same codes.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Reason"]


class Reason(StrEnum):
    """Machine-readable outcome of reconciling one record."""

    MATCHED = "MATCHED"
    MATCHED_LEGACY_ID = "MATCHED_LEGACY_ID"
    MATCHED_REPAIRED_ID = "MATCHED_REPAIRED_ID"
    MATCHED_NORMALIZED_NAME = "MATCHED_NORMALIZED_NAME"
    NAME_MISMATCH = "NAME_MISMATCH"
    DOB_MISMATCH = "DOB_MISMATCH"
    ID_INCONSISTENT = "ID_INCONSISTENT"
    UNKNOWN_CITIZEN = "UNKNOWN_CITIZEN"
    EVENT_AFTER_DEATH = "EVENT_AFTER_DEATH"
    MISSING_ID = "MISSING_ID"
    MALFORMED_ID = "MALFORMED_ID"

    @property
    def matched(self) -> bool:
        return self.value.startswith("MATCHED")
