"""The trainers' socket.io namespace (`/trainers`): a training job's progress and log
pushed live to the models page as `rasa train` prints them. Trainers and admins only,
from the console's own origin, signed in as on the agents' namespace; every push goes
to one room, so with a message queue it reaches trainers on any console process."""

from __future__ import annotations

from typing import Any

import socketio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from console.socket_sign_in import close_changed, connecting_agent, grant
from desk.errors import AnswersEveryEvent, DeskError
from desk.sign_in import Tokens
from desk.training.jobs import TRAINERS, TrainingJobs, job_view
from store.models import Agent

NAMESPACE = "/trainers"
ROOM = "trainers"


class TrainerConsole(AnswersEveryEvent, socketio.AsyncNamespace):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        tokens: Tokens,
        console_origins: set[str],
    ):
        super().__init__(NAMESPACE)
        self.sessions = sessions
        self.tokens = tokens
        self.console_origins = console_origins
        self.jobs: TrainingJobs | None = None

    async def job_changed(self, view: dict[str, Any]) -> None:
        await self.emit("job", view, room=ROOM)

    async def on_connect(self, sid: str, environ: dict, auth: Any = None) -> None:
        agent = await connecting_agent(
            self.sessions, self.tokens, self.console_origins, environ, auth
        )
        if agent.role not in TRAINERS:
            raise ConnectionRefusedError("only trainers and admins follow trainings")
        await self.save_session(sid, {"agent_id": agent.id, "grant": grant(agent)})
        await self.enter_room(sid, ROOM)

    async def recheck(self, agent_ids: list[int] | None = None) -> None:
        """Closes the pages of trainers signed out, deactivated or given another role
        since they connected: their pushes stop now, and a reconnect is refused to a
        role that no longer follows trainings."""
        await close_changed(self, self.sessions, [ROOM], agent_ids)

    async def on_job(self, sid: str, data: Any = None) -> dict[str, Any]:
        """The running job (or the latest one), for a page that (re)connects."""
        session = await self.get_session(sid)
        agent_id = session.get("agent_id") if session else None
        async with self.sessions() as db:
            agent = await db.get(Agent, agent_id) if agent_id else None
        # Rights are read again: a role changed since connecting counts now.
        if agent is None or not agent.is_active or agent.role not in TRAINERS:
            raise DeskError("forbidden", "Only trainers and admins follow trainings.", 403)
        if self.jobs is None:
            return {"ok": True, "job": None}
        found = await self.jobs.active() or next(iter(await self.jobs.recent(1)), None)
        return {"ok": True, "job": job_view(found, with_log=True) if found else None}
