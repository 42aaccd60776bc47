"""The agents' socket.io namespace: live queue and transcripts, and the same
actions as the HTTP API (accept, reply, resolve). Only the console's own origin
may connect, and every event is authorised against the conversation."""

from __future__ import annotations

import logging
from collections import Counter
from http.cookies import SimpleCookie
from typing import Any

import socketio

from console.auth import COOKIE, Tokens, agent_by_token
from console.conversations import ConversationError, ConversationService, conversation_view
from store.models import Agent, AgentRole

log = logging.getLogger(__name__)

NAMESPACE = "/agents"
ALL_AGENTS = "agents"


def conversation_room(conversation_id: int) -> str:
    return f"conversation:{conversation_id}"


class AgentConsole(socketio.AsyncNamespace):
    """Also the service's AgentHub: pushes go to rooms, so with a message queue
    configured they reach agents connected to any console process."""

    def __init__(self, service: ConversationService, tokens: Tokens, console_origins: set[str]):
        super().__init__(NAMESPACE)
        self.service = service
        self.tokens = tokens
        self.console_origins = console_origins
        # Open sockets per agent in this process.
        self.connections: Counter[int] = Counter()

    # ---- AgentHub ----------------------------------------------------------------------

    async def conversation_changed(self, conversation: dict[str, Any]) -> None:
        await self.emit("conversation", conversation, room=ALL_AGENTS)

    async def message_added(self, conversation_id: int, message: dict[str, Any]) -> None:
        await self.emit("message", message, room=conversation_room(conversation_id))

    # ---- socket events -------------------------------------------------------------------

    async def on_connect(self, sid: str, environ: dict, auth: Any = None) -> None:
        origin = environ.get("HTTP_ORIGIN")
        if origin and origin.rstrip("/") not in self.console_origins:
            raise ConnectionRefusedError("origin not allowed")
        token = auth.get("token") if isinstance(auth, dict) else None
        if not token:
            cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
            token = cookie[COOKIE].value if COOKIE in cookie else None
        agent = await agent_by_token(self.service.sessions, self.tokens, token)
        if agent is None:
            raise ConnectionRefusedError("not signed in")
        await self.save_session(sid, {"agent_id": agent.id})
        await self.enter_room(sid, ALL_AGENTS)
        self.connections[agent.id] += 1
        await self.service.set_presence(agent.id, "online")

    async def on_disconnect(self, sid: str, *args: Any) -> None:
        session = await self.get_session(sid)
        agent_id = session.get("agent_id") if session else None
        if agent_id is None:
            return
        self.connections[agent_id] -= 1
        # Another tab of the same agent keeps them online.
        if self.connections[agent_id] <= 0:
            del self.connections[agent_id]
            await self.service.set_presence(agent_id, "offline")

    async def _agent(self, sid: str) -> Agent:
        session = await self.get_session(sid)
        async with self.service.sessions() as db:
            agent = await db.get(Agent, session["agent_id"])
        if agent is None or not agent.is_active:
            raise ConversationError("forbidden", "Not signed in.", 401)
        return agent

    async def _call(self, sid: str, data: Any, action) -> dict[str, Any]:
        try:
            agent = await self._agent(sid)
            conversation_id = data.get("conversation_id") if isinstance(data, dict) else None
            if not isinstance(conversation_id, int):
                raise ConversationError("malformed", "conversation_id is required.", 400)
            return {"ok": True, **(await action(agent, conversation_id, data))}
        except ConversationError as exc:
            return {"ok": False, "error": {"code": exc.code, "message": str(exc)}}

    async def on_queue(self, sid: str, data: Any = None) -> dict[str, Any]:
        agent = await self._agent(sid)
        states = ["queued", "assigned"]
        conversations = []
        for state in states:
            conversations += await self.service.list(state, agent)
        return {"ok": True, "conversations": conversations, "me": _agent_view(agent)}

    async def on_watch(self, sid: str, data: Any = None) -> dict[str, Any]:
        """Subscribe to a conversation's messages; returns those after `after`."""

        async def watch(agent: Agent, conversation_id: int, data: dict) -> dict[str, Any]:
            conversation = await self.service.conversation_for(conversation_id, agent)
            await self.enter_room(sid, conversation_room(conversation_id))
            after = data.get("after") if isinstance(data.get("after"), int) else 0
            messages = await self.service.messages_after(conversation_id, after)
            return {"conversation": conversation_view(conversation), "messages": messages}

        return await self._call(sid, data, watch)

    async def on_unwatch(self, sid: str, data: Any = None) -> None:
        if isinstance(data, dict) and isinstance(data.get("conversation_id"), int):
            await self.leave_room(sid, conversation_room(data["conversation_id"]))

    async def on_accept(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def accept(agent: Agent, conversation_id: int, data: dict) -> dict[str, Any]:
            conversation = await self.service.assign(conversation_id, agent)
            await self.enter_room(sid, conversation_room(conversation_id))
            return {"conversation": conversation}

        return await self._call(sid, data, accept)

    async def on_send(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def send(agent: Agent, conversation_id: int, data: dict) -> dict[str, Any]:
            text = data.get("text")
            if not isinstance(text, str) or not text.strip() or len(text) > 4000:
                raise ConversationError(
                    "malformed", "Text of 1 to 4000 characters is required.", 400
                )
            client_message_id = data.get("client_message_id")
            if not isinstance(client_message_id, str | None):
                raise ConversationError("malformed", "client_message_id must be a string.", 400)
            message, new = await self.service.agent_message(
                conversation_id, agent, text, client_message_id
            )
            return {"message": message, "duplicate": not new}

        return await self._call(sid, data, send)

    async def on_resolve(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def resolve(agent: Agent, conversation_id: int, data: dict) -> dict[str, Any]:
            reason = data.get("reason") if isinstance(data.get("reason"), str) else None
            return {"conversation": await self.service.resolve(conversation_id, agent, reason)}

        return await self._call(sid, data, resolve)


def _agent_view(agent: Agent) -> dict[str, Any]:
    return {
        "id": agent.id,
        "username": agent.username,
        "display_name": agent.display_name,
        "role": agent.role.value,
        "team": agent.team,
        "supervisor": agent.role in (AgentRole.SUPERVISOR, AgentRole.ADMIN),
    }
