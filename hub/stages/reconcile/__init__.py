"""Reconciliation: each department record's citizen against the population registry.

``rules`` decides one record (pure); ``batch`` decides the common case of a whole batch at
once; ``stage`` is the thin stage around both; ``live_registry`` keeps the registry current.
"""

from hub.stages.reconcile.stage import ReconcileStage, build

__all__ = ["ReconcileStage", "build"]
