"""The live operations page (``hub run`` and ``hub demo`` print its address): a Starlette app
served by uvicorn in a background thread. ``/`` is the page, ``/api/state`` the figures it
polls every two seconds, ``/static/`` its script, styles and the vendored chart library (uPlot,
from the npm registry): nothing is fetched from elsewhere, so it works offline."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from hub.net import BackgroundServer
from hub.ops.state import OpsState

__all__ = ["OpsServer", "create_app"]

STATIC = Path(__file__).parent / "static"


def create_app(state: OpsState) -> Starlette:
    def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    def figures(request: Request) -> Response:
        return JSONResponse(state.snapshot(), headers={"Cache-Control": "no-store"})

    return Starlette(
        routes=[
            Route("/", page),
            Route("/api/state", figures),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]
    )


class OpsServer(BackgroundServer):
    """The page over ``state`` on ``host:port`` (0 picks a free port)."""

    def __init__(self, state: OpsState, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state
        super().__init__(create_app(state), "operations page (HUB_OPS_PORT)", host, port)
