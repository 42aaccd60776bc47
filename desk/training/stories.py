"""Rasa test stories from real conversations: what the customer said (masked) and the
intent it meant, and what the bot did (actions, forms, slots), as Rasa's tracker
recorded it, saved under `bot/tests/` where `make test` runs every story.

A story is built from the tracker's events, not from our transcript: the transcript has
the bot's words, a test story needs its actions. The customer's words and every text slot
go through the same masking as the trainer's views (`capture.Known.mask`), so a saved story
holds placeholders (`<POLICY_NO>`), never a customer's identifiers. Where a trainer has
reviewed a message (the inbox's label), the label is the story's intent; otherwise the
intent the bot understood. The bot's own words, session bookkeeping and the listening
between turns are left out: a test story does not name them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.errors import DeskError
from desk.rasa import RasaClient
from desk.training import changes
from desk.training.capture import known_for
from desk.training.project import Project, YamlFile, dump, locked, new_yaml, write_atomic
from store.models import Agent, Conversation
from store.workbench import ParsedMessage

# Saved stories, one file beside the hand-written ones (`rasa test` reads the directory).
STORIES_FILE = Path("bot") / "tests" / "test_stories_conversations.yml"
# Actions Rasa runs on its own around every turn and session: not part of a story.
UNSTORIED_ACTIONS = {
    "action_listen",
    "action_session_start",
    "action_unlikely_intent",
    "action_extract_slots",
}
# After the bot asked for one of these, a bare number is a one-time code.
CODE_SLOTS = {"otp_code", "callback_code"}
FALLBACK_INTENT = "nlu_fallback"
# The change log's kind of subject for a saved story.
STORY = "story"

# Masks a text; the flag says the bot had just asked for a one-time code.
Mask = Callable[[str, bool], str]


@dataclass(frozen=True)
class Story:
    name: str
    steps: list[dict[str, Any]]

    def yaml(self) -> str:
        """The story as it will stand in the file, for the trainer to read first."""
        return dump(_document([self]))


def _intent_of(parse: dict[str, Any]) -> str | None:
    """The intent a user event was parsed as; a retrieval intent with its topic."""
    intent = (parse.get("intent") or {}).get("name")
    if intent == FALLBACK_INTENT:
        # The fallback is a decision, not a meaning: the best intent behind it.
        ranked = [r.get("name") for r in parse.get("intent_ranking") or []]
        intent = next((name for name in ranked if name and name != FALLBACK_INTENT), None)
    if not intent:
        return None
    selected = ((parse.get("response_selector") or {}).get(intent) or {}).get("response") or {}
    key = selected.get("intent_response_key")
    return key if isinstance(key, str) and key.startswith(f"{intent}/") else intent


def _masked_value(value: Any, mask: Mask) -> Any:
    if isinstance(value, str):
        return mask(value, False)
    if isinstance(value, list):
        return [_masked_value(item, mask) for item in value]
    if isinstance(value, dict):
        return {key: _masked_value(item, mask) for key, item in value.items()}
    return value


def steps_of(
    events: Iterable[dict[str, Any]], mask: Mask, labels: Sequence[tuple[str, str]] = ()
) -> list[dict[str, Any]]:
    """A test story's steps from a tracker's events (Rasa's JSON). `labels` are the
    trainers' (masked text, intent) for the conversation's messages, in order: a user
    event whose masked text is the next labelled one takes its label."""
    pending = list(labels)
    steps: list[dict[str, Any]] = []
    slots: list[dict[str, Any]] | None = None
    awaiting: Any = None
    for event in events:
        kind = event.get("event")
        if kind == "slot":
            if event.get("name") == "requested_slot":
                awaiting = event.get("value")
            if slots is None:
                slots = []
                steps.append({"slot_was_set": slots})
            slots.append({event["name"]: _masked_value(event.get("value"), mask)})
            continue
        if kind == "user":
            text = str(event.get("text") or "")
            intent = _intent_of(event.get("parse_data") or {})
            masked = mask(text, awaiting in CODE_SLOTS)
            for position, (labelled_text, label) in enumerate(pending):
                if labelled_text == masked:
                    intent = label
                    del pending[: position + 1]
                    break
            if intent is None:
                slots = None
                continue
            # A button's payload names its intent; it has no words to test.
            step = (
                {"intent": intent} if text.startswith("/") else {"user": masked, "intent": intent}
            )
            steps.append(step)
        elif kind == "action" and event.get("name") not in UNSTORIED_ACTIONS:
            steps.append({"action": event["name"]})
        elif kind == "active_loop":
            steps.append({"active_loop": event.get("name")})
        elif kind == "session_started":
            # A story tests one session: the last one.
            steps = []
        else:
            continue
        slots = None
    while steps and "user" not in steps[0] and "intent" not in steps[0]:
        steps.pop(0)  # what a session starts with, before the customer says anything
    return steps


def story_of(
    name: str, events: Iterable[dict[str, Any]], mask: Mask, labels: Sequence[tuple[str, str]]
) -> Story:
    steps = steps_of(events, mask, labels)
    if not any("intent" in step for step in steps):
        raise DeskError("empty_story", "The conversation has no customer turn to test.", 422)
    return Story(name, steps)


REVIEWED = ("confirmed", "relabelled", "out_of_scope")


async def conversation_story(
    sessions: async_sessionmaker[AsyncSession], bot: RasaClient, conversation_id: int
) -> Story:
    """The test story of a conversation's last session, masked, with the trainers'
    labels where they reviewed its messages."""
    async with sessions() as session:
        conversation = await session.get(Conversation, conversation_id)
        if conversation is None:
            raise DeskError("not_found", "No such conversation.", 404)
        known = await known_for(session, conversation.customer_id)
        reviewed = await session.execute(
            select(ParsedMessage.text, ParsedMessage.label)
            .where(
                ParsedMessage.conversation_id == conversation_id,
                ParsedMessage.status.in_(REVIEWED),
                ParsedMessage.label.is_not(None),
            )
            .order_by(ParsedMessage.seq)
        )
        labels = [(text, str(label)) for text, label in reviewed.all()]
        uid, language = conversation.uid, conversation.language
    events = await bot.tracker_events(uid)
    return story_of(f"conversation {conversation_id} ({language})", events, known.mask, labels)


def _quoted(value: Any) -> Any:
    """Texts double-quoted, as the hand-written stories are."""
    if isinstance(value, str):
        return DoubleQuotedScalarString(value)
    if isinstance(value, list):
        return CommentedSeq([_quoted(item) for item in value])
    if isinstance(value, dict):
        return CommentedMap((key, _quoted(item)) for key, item in value.items())
    return value


def _entry(story: Story) -> CommentedMap:
    steps = CommentedSeq()
    for step in story.steps:
        entry = CommentedMap()
        for key, value in step.items():
            keep_bare = key in ("intent", "action", "active_loop")
            entry[key] = value if keep_bare else _quoted(value)
        steps.append(entry)
    return CommentedMap([("story", DoubleQuotedScalarString(story.name)), ("steps", steps)])


def _document(stories: list[Story]) -> CommentedMap:
    seq = CommentedSeq([_entry(story) for story in stories])
    return CommentedMap([("version", DoubleQuotedScalarString("3.1")), ("stories", seq)])


def save(project: Project, story: Story) -> tuple[str, str | None]:
    """Adds the story to the saved stories' file, or replaces the one of that name (a
    trainer saving a conversation again, say after relabelling). Returns the file,
    relative to the project, and the story's text before, if it replaced one."""
    path = project.root / STORIES_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path.parent):
        if not path.exists():
            write_atomic(path, dump(_document([story])))
            return str(STORIES_FILE), None
        stored = YamlFile.load(path)
        entries = stored.document.setdefault("stories", CommentedSeq())
        before = None
        for position, entry in enumerate(entries):
            if entry.get("story") == story.name:
                before = dump(CommentedMap([("stories", CommentedSeq([entry]))]))
                entries[position] = _entry(story)
                break
        else:
            entries.append(_entry(story))
        stored.save()
    return str(STORIES_FILE), before


def saved_names(project: Project) -> list[str]:
    path = project.root / STORIES_FILE
    if not path.exists():
        return []
    document = new_yaml().load(path.read_text(encoding="utf-8")) or {}
    return [str(entry.get("story")) for entry in document.get("stories") or []]


async def save_story(
    sessions: async_sessionmaker[AsyncSession], project: Project, agent: Agent, story: Story
) -> tuple[str, bool]:
    """Saves the story (a trainer's act, in the change log with the story before and
    after). Returns the file it is in and whether it replaced an earlier save."""
    changes.check_trainer(agent)
    file, before = await asyncio.to_thread(save, project, story)
    await changes.log_change(
        sessions, agent, STORY, story.name, "replace" if before else "add", before, story.yaml()
    )
    return file, before is not None
