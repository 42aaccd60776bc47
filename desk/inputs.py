"""What a request may carry, as pydantic models: one way to read a body, one error.

Every adapter (the HTTP API, the agents' socket, the pages' forms) reads what it
was sent with `read(Model, data)`. A value that does not fit raises `DeskError`
(400) with the code and message the model names for that field, so the API
answers its one JSON error shape and the pages can translate the code.

The models here are the conversation's; people, canned replies and casework
declare theirs beside their rules, on the same `Body`."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from desk.errors import DeskError

# Ids are 32-bit in the store: a larger number names nothing.
MAX_ID = 2**31 - 1


def _no_bool(value: Any) -> Any:
    # JSON `true` is not a number here, though Python counts it as one.
    if isinstance(value, bool):
        raise ValueError("not a number")
    return value


# An id from a form may come as text; from JSON, `StrictId` takes only a number.
Id = Annotated[int, BeforeValidator(_no_bool), Field(ge=1, le=MAX_ID)]
StrictId = Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]
ClientId = Annotated[str, Field(min_length=1, max_length=64)]


class Body(BaseModel):
    """A request's body. `refusals` names, per field, the code and message of the
    error its bad value gets; any other field's gets `malformed`."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    refusals: ClassVar[dict[str, tuple[str, str]]] = {}


ModelT = TypeVar("ModelT", bound=Body)


def read(model: type[ModelT], data: Any) -> ModelT:
    """`data` as `model`, or the DeskError its first bad field names."""
    if not isinstance(data, dict):
        raise DeskError("malformed", "The body must be a JSON object.", 400)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        if field in model.refusals:
            code, message = model.refusals[field]
        else:
            code, message = "malformed", f"{field or 'the body'}: {first['msg']}"
        raise DeskError(code, message, 400) from exc


def path_id(value: str, what: str = "conversation") -> int:
    """An id from a URL: anything but a number the store can hold names nothing (404)."""
    if not value.isdigit() or not 1 <= int(value) <= MAX_ID:
        raise DeskError("not_found", f"No such {what}.", 404)
    return int(value)


# ---- the conversation's requests ------------------------------------------------------

MAX_REPLY = 4000
MAX_NOTE = 2000


def _stripped_non_empty(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise ValueError("empty")
    return value


Text = Annotated[str, BeforeValidator(_stripped_non_empty)]


class Login(Body):
    username: str
    password: str
    refusals = {
        "username": ("malformed", "username and password are required."),
        "password": ("malformed", "username and password are required."),
    }


class PresenceChoice(Body):
    presence: Literal["online", "away", "offline"]
    refusals = {"presence": ("bad_presence", "presence must be one of online, away, offline.")}


class SocketPresence(Body):
    """From the console itself, which is open: answering or away."""

    presence: Literal["online", "away"]
    refusals = {"presence": ("bad_presence", "presence is online or away.")}


class Reply(Body):
    text: Annotated[Text, Field(max_length=MAX_REPLY)]
    client_message_id: ClientId | None = None
    refusals = {
        "text": ("malformed", f"text of 1 to {MAX_REPLY} characters is required."),
        "client_message_id": ("malformed", "client_message_id is a string of 1 to 64 characters."),
    }


class NewNote(Body):
    text: Annotated[Text, Field(max_length=MAX_NOTE)]
    client_note_id: ClientId | None = None
    refusals = {
        "text": ("malformed", f"A note has 1 to {MAX_NOTE} characters."),
        "client_note_id": ("malformed", "client_note_id is a string of 1 to 64 characters."),
    }


class Resolution(Body):
    reason: str | None = None


class Transfer(Body):
    """To a team's queue (`team`) or straight to an agent (`agent_id`), with a note."""

    note: Annotated[Text, Field(max_length=MAX_NOTE)]
    team: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    agent_id: StrictId | None = None
    refusals = {
        "note": ("malformed", "A transfer needs a note."),
        "team": ("malformed", "note, and team or agent_id, are required."),
        "agent_id": ("malformed", "note, and team or agent_id, are required."),
    }


class Labels(Body):
    labels: list[str]
    refusals = {"labels": ("malformed", "labels must be a list of strings.")}


class Watch(Body):
    after: Annotated[int, BeforeValidator(_no_bool), Field(ge=0, le=MAX_ID)] = 0


class Ack(Body):
    seq: Annotated[int, BeforeValidator(_no_bool), Field(ge=1, le=MAX_ID)]
    refusals = {"seq": ("malformed", "seq is required.")}


class Typing(Body):
    typing: bool = False


class CannedChoice(Body):
    shortcut: Annotated[str, Field(min_length=1, max_length=32)]
    refusals = {"shortcut": ("malformed", "shortcut is required.")}


class ConversationRef(Body):
    """Every agents' socket event names its conversation."""

    conversation_id: StrictId
    refusals = {"conversation_id": ("malformed", "conversation_id is required.")}
