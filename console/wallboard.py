"""The supervisors' live wallboard (`/console/wallboard`): each team's queue and its
longest wait, the agents by presence and load, today's service level against its goal
and the alert when it is projected to fall below (figures: desk.analytics.wallboard).

The page draws the snapshot it is served with, asks for a fresh one over the agents'
namespace (`wallboard`) when its socket connects, and then redraws what is pushed to
the `supervisors` room: a fresh snapshot whenever a conversation or a presence
changes, at most one per `interval` however many changes come (no polling)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from console.agents import SUPERVISORS, AgentConsole
from console.pages import render, require_role, signed_in
from desk.analytics.queue import Targets
from desk.analytics.ranges import READERS
from desk.analytics.wallboard import Board, supervisors_wallboard, wallboard
from desk.clock import now
from desk.settings import Settings
from store.models import Agent

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

PAGE = "/console/wallboard"
# Apache ECharts, installed from npm by `make setup` and served from our own origin.


class Coalesced:
    """Runs `push` at once on a change after a quiet spell and then at most once per
    `interval` while changes keep coming: the changes in between make one push at the
    interval's end. `pause` is how it waits (a test drives it by hand)."""

    def __init__(
        self,
        push: Callable[[], Awaitable[None]],
        interval: float = 1.0,
        pause: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ):
        self.push = push
        self.interval = interval
        self.pause = pause
        self.task: asyncio.Task | None = None
        self.again = False

    def changed(self) -> None:
        if self.task is not None and not self.task.done():
            self.again = True
            return
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            self.again = False
            try:
                await self.push()
            except Exception:  # noqa: BLE001 - a failed push must not stop the next
                log.exception("pushing the wallboard failed")
            await self.pause(self.interval)
            if not self.again:
                return

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


class Wallboard:
    """The board's figures for one reader, and its pushes to the supervisors' room."""

    def __init__(self, agents: AgentConsole, settings: Settings, interval: float = 1.0):
        self.agents = agents
        self.board = Board(
            targets=Targets(settings.service_level_target_seconds, settings.short_abandon_seconds),
            goal=settings.service_level_goal,
            # As routing counts agents online (desk.routing).
            presence_ttl=agents.service.presence_ttl,
        )
        self.pushes = Coalesced(self.push, interval)
        agents.wallboard = self.snapshot
        agents.queue_watchers.append(self.pushes.changed)

    async def snapshot(self, reader: Agent) -> dict[str, Any]:
        return await wallboard(self.agents.service.sessions, reader, now(), self.board)

    async def push(self) -> None:
        board = await supervisors_wallboard(self.agents.service.sessions, now(), self.board)
        await self.agents.emit("wallboard", board, room=SUPERVISORS)


wallboard_key = web.AppKey("wallboard", Wallboard)


def install(app: web.Application, agents: AgentConsole, settings: Settings) -> Wallboard:
    board = Wallboard(agents, settings)
    app[wallboard_key] = board

    async def stop(app: web.Application) -> None:
        await board.pushes.close()

    app.on_cleanup.append(stop)
    return board


@routes.get(PAGE, name="wallboard")
async def wallboard_page(request: web.Request) -> web.StreamResponse:
    agent = await signed_in(request)
    require_role(agent, *READERS, request=request)
    snapshot = await request.app[wallboard_key].snapshot(agent)
    context = {"request": request, "snapshot": snapshot}
    return render(request, "wallboard.html", context, agent=agent, scripts="wallboard.")
