"""Canned replies: prepared answers in one language, kept by supervisors and admins.
Agents fill them into a conversation (`desk.notes`), with the customer's and their
own names put in for `{customer_name}` and `{agent_name}`."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.errors import DeskError
from desk.inputs import Body
from desk.texts import LANGUAGES
from store.models import Agent, CannedResponse, Event

Sessions = async_sessionmaker[AsyncSession]

MAX_CANNED_TEXT = 1000
# The variables the console fills in when an agent uses a canned response.
CANNED_VARIABLES = re.compile(r"\{(?:customer_name|agent_name)\}")
BRACED = re.compile(r"\{[^{}]*\}|[{}]")


class NewCanned(Body):
    shortcut: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9_]{1,32}$")]
    language: Annotated[str, StringConstraints(pattern="^(zh|en)$")]
    text: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_CANNED_TEXT)
    ]
    refusals = {
        "shortcut": (
            "bad_shortcut",
            "shortcut must be 1 to 32 lowercase letters, digits or underscores.",
        ),
        "language": ("bad_language", f"language must be one of {', '.join(LANGUAGES)}."),
        "text": ("bad_text", f"text of 1 to {MAX_CANNED_TEXT} characters is required."),
    }


def unknown_variables(text: str) -> list[str]:
    """The `{…}` pieces of a canned response other than the variables the console
    fills in (stray braces count too, since they would break the filling)."""
    return BRACED.findall(CANNED_VARIABLES.sub("", text))


def canned_view(canned: CannedResponse) -> dict:
    return {
        "id": canned.id,
        "shortcut": canned.shortcut,
        "language": canned.language,
        "text": canned.text,
    }


def check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise DeskError(*NewCanned.refusals["language"], 400)
    return language


async def list_canned(sessions: Sessions, language: str | None = None) -> list[CannedResponse]:
    query = select(CannedResponse).order_by(CannedResponse.shortcut, CannedResponse.language)
    if language:
        query = query.where(CannedResponse.language == language)
    async with sessions() as session:
        return list((await session.scalars(query)).all())


async def create_canned(sessions: Sessions, actor: Agent, new: NewCanned) -> CannedResponse:
    """A prepared reply in one language; only the variables the console fills in
    may appear in braces."""
    unknown = unknown_variables(new.text)
    if unknown:
        raise DeskError(
            "unknown_variable",
            f"Unknown variables {' '.join(unknown)}: only {{customer_name}} and {{agent_name}} "
            "may appear in braces.",
            400,
        )
    taken = DeskError(
        "shortcut_taken", f"There is already a {new.language} response {new.shortcut}.", 409
    )
    try:
        async with sessions.begin() as session:
            existing = select(CannedResponse.id).where(
                CannedResponse.shortcut == new.shortcut, CannedResponse.language == new.language
            )
            if await session.scalar(existing):
                raise taken
            canned = CannedResponse(shortcut=new.shortcut, language=new.language, text=new.text)
            session.add(canned)
            await session.flush()
            session.add(
                Event(
                    kind="canned_created",
                    agent_id=actor.id,
                    data={"canned_id": canned.id, "shortcut": new.shortcut},
                )
            )
    except IntegrityError as exc:
        raise taken from exc
    return canned


async def delete_canned(sessions: Sessions, actor: Agent, canned_id: int) -> None:
    async with sessions.begin() as session:
        canned = await session.get(CannedResponse, canned_id)
        if canned is None:
            raise DeskError("not_found", "No such canned response.", 404)
        await session.delete(canned)
        session.add(
            Event(
                kind="canned_deleted",
                agent_id=actor.id,
                data={"canned_id": canned_id, "shortcut": canned.shortcut},
            )
        )
