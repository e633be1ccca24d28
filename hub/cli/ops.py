"""The live operations page beside a running hub (``hub run``, ``hub demo``)."""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hub.metrics import HubMetrics
    from hub.service import Service
    from hub.settings import Settings

__all__ = ["start_page"]


def start_page(stack: ExitStack, settings: Settings, metrics: HubMetrics, service: Service) -> str | None:
    """Serve the page (HUB_OPS_HOST, HUB_OPS_PORT) until ``stack`` closes; its address, or None
    when its port is taken (said in one line: the hub runs on without it)."""
    from hub.cli.console import err
    from hub.errors import PortInUseError
    from hub.ops.server import OpsServer
    from hub.ops.state import OpsState

    state = OpsState(metrics.registry, service.health, tuple(service.runners))
    try:
        server = stack.enter_context(OpsServer(state, settings.ops_host, settings.ops_port))
    except PortInUseError as exc:
        err.print(
            f"warning: {exc}; set HUB_OPS_PORT to another port (0 picks a free one). "
            "The hub runs on without its page.",
            highlight=False,
            soft_wrap=True,
        )
        return None
    return server.url + "/"
