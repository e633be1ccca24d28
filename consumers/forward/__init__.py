"""Forwarding: reconciled records to the national exchange (NDXP), its acknowledgements back.

``client`` speaks the exchange's HTTP API; ``stage`` is the thin stage around it.
"""

from consumers.forward.stage import ForwardStage, build

__all__ = ["ForwardStage", "build"]
