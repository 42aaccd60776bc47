"""The agents' socket.io namespace: the live queue and transcripts, and every
action an agent takes on a conversation. Only the console's own origin may
connect, and every event is authorised against the conversation.

Rooms: `agent:<id>` (one agent's consoles), `team:<code>` (a team's agents),
`supervisors`, and `conversation:<id>` (joined only after `watch` is authorised)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from console.socket_sign_in import close_changed, connecting_agent, grant
from desk import inputs, people
from desk.access import supervises
from desk.analytics.tags import TagsAsked, conversation_tags
from desk.clock import now
from desk.conversations import ConversationService
from desk.errors import AnswersEveryEvent, DeskError
from desk.lifecycle import RESOLUTION_REASONS
from desk.sign_in import Tokens
from desk.views import agent_view
from store.models import Agent, AgentRole

NAMESPACE = "/agents"
SUPERVISORS = "supervisors"


def conversation_room(conversation_id: int) -> str:
    return f"conversation:{conversation_id}"


def agent_room(agent_id: int) -> str:
    return f"agent:{agent_id}"


def team_room(team: str) -> str:
    return f"team:{team}"


Action = Callable[[Agent, int, dict], Awaitable[dict[str, Any]]]


class AgentConsole(AnswersEveryEvent, socketio.AsyncNamespace):
    """Also the service's AgentHub: pushes go to rooms, so with a message queue
    configured they reach agents connected to any console process."""

    def __init__(self, service: ConversationService, tokens: Tokens, console_origins: set[str]):
        super().__init__(NAMESPACE)
        self.service = service
        self.tokens = tokens
        self.console_origins = console_origins
        # Open sockets per agent in this process.
        self.connections: Counter[int] = Counter()
        # Rechecks of the staff's other namespaces, run with this one's.
        self.also_recheck: list[Callable[[list[int] | None], Awaitable[None]]] = []
        # Told of every change to the queues or to who is answering (the wallboard's
        # pushes), and the wallboard itself for the `wallboard` event.
        self.queue_watchers: list[Callable[[], None]] = []
        self.wallboard: Callable[[Agent], Awaitable[dict[str, Any]]] | None = None

    # ---- AgentHub ----------------------------------------------------------------------

    async def conversation_changed(
        self, conversation: dict[str, Any], previous_agent_id: int | None = None
    ) -> None:
        """The view to whoever may open it now, as the API would show them: supervisors,
        the agent handling it, and its team while it waits in their queue. Agents who
        may not (any more) hear only `conversation_gone`, and hear it first, so that
        the view, where it follows, is what stays."""
        cid, team, state = conversation["id"], conversation["team"], conversation["state"]
        assigned = conversation.get("assigned_agent_id")
        queued = state == "queued"
        lost = [
            agent_room(agent.id)
            for agent in await self.service.plain_agents(team, previous_agent_id)
            if agent.id != assigned
            and agent.role == AgentRole.AGENT
            and not (queued and agent.team == team)
        ]
        if lost:
            await self.emit("conversation_gone", {"conversation_id": cid}, room=lost)
        rooms = [SUPERVISORS] + ([team_room(team)] if queued else [])
        if assigned is not None:
            rooms.append(agent_room(assigned))
        await self.emit("conversation", conversation, room=rooms)
        self._queue_changed()

    async def message_added(self, conversation_id: int, message: dict[str, Any]) -> None:
        await self.emit("message", message, room=conversation_room(conversation_id))

    async def note_added(self, conversation_id: int, note: dict[str, Any]) -> None:
        await self.emit("note", note, room=conversation_room(conversation_id))

    async def typing(self, conversation_id: int, data: dict[str, Any]) -> None:
        await self.emit("typing", data, room=conversation_room(conversation_id))

    async def intent_seen(self, conversation_id: int, data: dict[str, Any]) -> None:
        await self.emit(
            "intent",
            {"conversation_id": conversation_id, **data},
            room=conversation_room(conversation_id),
        )

    async def withdraw(self, conversation_id: int) -> None:
        # Watchers must `watch` again, which checks that they still may.
        await self.close_room(conversation_room(conversation_id))

    async def reminder(self, callback: dict[str, Any]) -> None:
        """A callback is due: to its agent, or to the supervisors and its team's pool."""
        agent_id = callback.get("assigned_agent_id")
        rooms = (
            [agent_room(agent_id)]
            if agent_id
            else [SUPERVISORS, team_room(callback.get("team") or "general")]
        )
        await self.emit("reminder", {"callback": callback}, room=rooms)

    def _queue_changed(self) -> None:
        for watcher in self.queue_watchers:
            watcher()

    def connected_agents(self) -> list[int]:
        return list(self.connections)

    # ---- connection ----------------------------------------------------------------------

    async def on_connect(self, sid: str, environ: dict, auth: Any = None) -> None:
        agent = await connecting_agent(
            self.service.sessions, self.tokens, self.console_origins, environ, auth
        )
        if agent.role == AgentRole.TRAINER:
            raise ConnectionRefusedError("trainers do not take conversations")
        if supervises(agent) and isinstance(auth, dict) and auth.get("wallboard"):
            # A wallboard watches: it neither puts its supervisor online nor counts
            # as their console. Its agent's room is for closing it on a changed grant.
            await self.save_session(sid, {"board_of": agent.id, "grant": grant(agent)})
            await self.enter_room(sid, agent_room(agent.id))
            await self.enter_room(sid, SUPERVISORS)
            return
        await self.save_session(sid, {"agent_id": agent.id, "grant": grant(agent)})
        await self.enter_room(sid, agent_room(agent.id))
        # Supervisors hear everything in their own room; a team's room is its agents'.
        await self.enter_room(sid, SUPERVISORS if supervises(agent) else team_room(agent.team))
        self.connections[agent.id] += 1
        # Coming back keeps "away"; otherwise a console that opens is answering.
        if agent.presence != "away":
            await self._presence(agent.id, "online")
        else:
            await self.service.heartbeat([agent.id])

    async def on_disconnect(self, sid: str, *args: Any) -> None:
        session = await self.get_session(sid)
        # Taken out, so that a connection is counted out once however it ends.
        agent_id = session.pop("agent_id", None) if session else None
        if agent_id is None:
            return
        await self.save_session(sid, session)
        self.connections[agent_id] -= 1
        # Another tab of the same agent keeps them online. Their conversations stay
        # theirs for the reconnect grace period (see ConversationService.requeue_absent).
        if self.connections[agent_id] <= 0:
            del self.connections[agent_id]
            await self._presence(agent_id, "offline")

    async def _presence(self, agent_id: int, presence: str) -> None:
        await self.service.set_presence(agent_id, presence)
        await self.presence_changed(agent_id, presence)

    async def presence_changed(self, agent_id: int, presence: str) -> None:
        await self.emit("presence", {"agent_id": agent_id, "presence": presence}, room=SUPERVISORS)
        self._queue_changed()

    async def _agent(self, sid: str) -> Agent:
        session = await self.get_session(sid)
        async with self.service.sessions() as db:
            agent = await db.get(Agent, session.get("agent_id") or session["board_of"])
        if agent is None or grant(agent) != session["grant"]:
            # Refused now; `recheck` closes the console (at once in the process where
            # the change was made, at the next housekeeping round in the others).
            raise DeskError("unauthorised", "Sign in again.", 401)
        return agent

    async def recheck(self, agent_ids: list[int] | None = None) -> None:
        wanted = list(self.connections) if agent_ids is None else agent_ids
        if wanted:
            rooms = [agent_room(agent_id) for agent_id in wanted]
            await close_changed(self, self.service.sessions, rooms)
        # The staff's other namespaces (the trainers') hold the same grants.
        for recheck in self.also_recheck:
            await recheck(agent_ids)

    async def _call(self, sid: str, data: Any, action: Action) -> dict[str, Any]:
        try:
            agent = await self._agent(sid)
            conversation_id = inputs.read(inputs.ConversationRef, data).conversation_id
            return {"ok": True, **(await action(agent, conversation_id, data))}
        except DeskError as exc:
            return _refusal(exc)

    # ---- the agent's own state --------------------------------------------------------------

    async def on_queue(self, sid: str, data: Any = None) -> dict[str, Any]:
        """Everything the console needs to draw itself, in one call."""
        try:
            agent = await self._agent(sid)
        except DeskError as exc:
            return _refusal(exc)
        conversations = []
        for state in ("queued", "assigned"):
            conversations += await self.service.conversations(state, agent)
        return {
            "ok": True,
            "conversations": conversations,
            "me": agent_view(agent, await people.workload(self.service.sessions, agent)),
            # Other agents' presence and load only for supervisors, as in the API.
            "agents": await self.service.agents(agent),
            "teams": await self.service.teams(),
            "resolution_reasons": list(RESOLUTION_REASONS),
            "canned": await self.service.canned_responses(),
        }

    async def on_wallboard(self, sid: str, data: Any = None) -> dict[str, Any]:
        """The wallboard as it is now, for supervisors and admins (console.wallboard)."""
        try:
            agent = await self._agent(sid)
            if self.wallboard is None:
                raise DeskError("unavailable", "There is no wallboard here.", 503)
            return {"ok": True, "wallboard": await self.wallboard(agent)}
        except DeskError as exc:
            return _refusal(exc)

    async def on_tags(self, sid: str, data: Any = None) -> dict[str, Any]:
        """The customers' tags of the conversations in the agent's list, for those the
        agent may view (the others are left out); the list's tag filter reads them."""
        try:
            asked = inputs.read(TagsAsked, data if data is not None else {})
            agent = await self._agent(sid)
        except DeskError as exc:
            return _refusal(exc)
        async with self.service.sessions() as session:
            found = await conversation_tags(session, agent, asked.conversation_ids, now())
        return {"ok": True, "tags": {str(c): tags for c, tags in found.items()}}

    async def on_presence(self, sid: str, data: Any = None) -> dict[str, Any]:
        try:
            presence = inputs.read(inputs.SocketPresence, data).presence
            agent = await self._agent(sid)
        except DeskError as exc:
            return _refusal(exc)
        await self._presence(agent.id, presence)
        agent.presence = presence
        return {"ok": True, "me": agent_view(agent)}

    # ---- conversations -------------------------------------------------------------------

    async def on_watch(self, sid: str, data: Any = None) -> dict[str, Any]:
        """Subscribe to a conversation; returns the messages after `after` and its notes."""

        async def watch(agent: Agent, conversation_id: int, data: dict) -> dict[str, Any]:
            after = inputs.read(inputs.Watch, data).after
            conversation = await self.service.conversation_for(conversation_id, agent)
            await self.enter_room(sid, conversation_room(conversation_id))
            return {
                "conversation": await self.service.view(conversation),
                "messages": await self.service.messages_after(conversation_id, after),
                "notes": await self.service.notes(conversation_id),
            }

        return await self._call(sid, data, watch)

    async def on_unwatch(self, sid: str, data: Any = None) -> None:
        try:
            conversation_id = inputs.read(inputs.ConversationRef, data).conversation_id
        except DeskError:
            return
        await self.leave_room(sid, conversation_room(conversation_id))

    async def on_accept(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def accept(agent: Agent, conversation_id: int, data: dict) -> dict[str, Any]:
            conversation = await self.service.assign(conversation_id, agent)
            await self.enter_room(sid, conversation_room(conversation_id))
            return {"conversation": conversation}

        return await self._call(sid, data, accept)

    async def on_send(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def send(agent: Agent, conversation_id: int, data: dict) -> dict[str, Any]:
            reply = inputs.read(inputs.Reply, data)
            message, new = await self.service.agent_message(
                conversation_id, agent, reply.text, reply.client_message_id
            )
            return {"message": message, "duplicate": not new}

        return await self._call(sid, data, send)

    async def on_ack(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def ack(agent: Agent, conversation_id: int, data: dict) -> dict[str, Any]:
            seq = inputs.read(inputs.Ack, data).seq
            await self.service.agent_acknowledge(conversation_id, agent, seq)
            return {}

        return await self._call(sid, data, ack)

    async def on_typing(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def typing(agent: Agent, conversation_id: int, data: dict) -> dict[str, Any]:
            typed = inputs.read(inputs.Typing, data).typing
            await self.service.agent_typing(conversation_id, agent, typed)
            return {}

        return await self._call(sid, data, typing)

    async def on_note(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def note(agent: Agent, conversation_id: int, data: dict) -> dict[str, Any]:
            body = inputs.read(inputs.NewNote, data)
            view, new = await self.service.add_note(
                conversation_id, agent, body.text, body.client_note_id
            )
            return {"note": view, "duplicate": not new}

        return await self._call(sid, data, note)

    async def on_labels(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def labels(agent: Agent, conversation_id: int, data: dict) -> dict[str, Any]:
            values = list(inputs.read(inputs.Labels, data).labels)
            return {"conversation": await self.service.set_labels(conversation_id, agent, values)}

        return await self._call(sid, data, labels)

    async def on_transfer(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def transfer(agent: Agent, conversation_id: int, data: dict) -> dict[str, Any]:
            body = inputs.read(inputs.Transfer, data)
            conversation = await self.service.transfer(
                conversation_id, agent, body.note, team=body.team, to_agent_id=body.agent_id
            )
            return {"conversation": conversation}

        return await self._call(sid, data, transfer)

    async def on_resolve(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def resolve(agent: Agent, conversation_id: int, data: dict) -> dict[str, Any]:
            reason = inputs.read(inputs.Resolution, data).reason
            return {"conversation": await self.service.resolve(conversation_id, agent, reason)}

        return await self._call(sid, data, resolve)

    async def on_canned(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def canned(agent: Agent, conversation_id: int, data: dict) -> dict[str, Any]:
            shortcut = inputs.read(inputs.CannedChoice, data).shortcut
            return {"text": await self.service.fill_canned(conversation_id, agent, shortcut)}

        return await self._call(sid, data, canned)


def _refusal(exc: DeskError) -> dict[str, Any]:
    return {"ok": False, "error": {"code": exc.code, "message": exc.message}}
