"""What a casework request may carry: scheduling a callback, logging a call attempt,
a new follow-up, and changes to a follow-up or a complaint.

Each is a `desk.inputs.Body`: the API reads its JSON and the pages their forms with
`read(Model, data)`, and a bad value gets the refusal the model names for its field
(`bad_id`, `bad_time`, `bad_<field>`, ...). The few refusals that are not one field's
bad value (`<field>_required`, `link_required`, `window_required`) are raised as a
`CaseworkError` by small validators here, so a body that reads is whole.

Forms send ids as text and "" for "not chosen": both read as JSON's would (an empty
value is None). Times are ISO 8601 and read as sent; one without an offset is local
time, which the function using it puts in the service time zone (`inputs.in_zone`).
In the changes, and for the assignee of new work, only the fields sent count
(`model_fields_set`): an assignee left out stays as it is (or is the creating agent),
one sent as null or "" is the team's pool."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal, Self, get_args

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    model_validator,
)

from desk.casework.errors import CaseworkError
from desk.inputs import Body, Id
from store.models import TaskStatus

MAX_TEXT = 1000
MAX_TITLE = 200
MAX_NUMBER = 32
MAX_PHONE = 32
PHONE = re.compile(r"\+?\d{6,15}")
Outcome = Literal["reached", "no_answer", "rescheduled"]
OUTCOMES: tuple[str, ...] = get_args(Outcome)
ISO_EXAMPLE = "ISO 8601, e.g. 2026-11-05T10:00"


def _blank_is_none(value: Any) -> Any:
    # A form's empty field (or an empty select) means "none".
    return None if isinstance(value, str) and not value.strip() else value


def _iso_8601(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("not a date and time")
    return datetime.fromisoformat(value.strip())  # a ValueError is the field's refusal


def _phone(value: str) -> str:
    number = re.sub(r"[\s-]", "", value)
    if not PHONE.fullmatch(number):
        raise ValueError("not a phone number")
    return number


def _required(name: str) -> BeforeValidator:
    """Blank or left out is `<name>_required`, apart from the field's other refusal."""

    def check(value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            raise CaseworkError(f"{name}_required", f"{name} is required.")
        return value

    return BeforeValidator(check)


def _trimmed(limit: int) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, max_length=limit)


OptionalId = Annotated[Id | None, BeforeValidator(_blank_is_none)]
Time = Annotated[datetime, BeforeValidator(_iso_8601)]
OptionalTime = Annotated[Time | None, BeforeValidator(_blank_is_none)]
Note = Annotated[Annotated[str, _trimmed(MAX_TEXT)] | None, BeforeValidator(_blank_is_none)]
Number = Annotated[
    Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, max_length=MAX_NUMBER)]
    | None,
    BeforeValidator(_blank_is_none),
]
Status = Annotated[TaskStatus | None, BeforeValidator(_blank_is_none)]
Phone = Annotated[
    Annotated[str, _trimmed(MAX_PHONE), AfterValidator(_phone)] | None,
    BeforeValidator(_blank_is_none),
]


def _bad_id(name: str) -> tuple[str, str]:
    return "bad_id", f"{name} must be a number."


def _bad_time(name: str) -> tuple[str, str]:
    return "bad_time", f"{name} must be a date and time ({ISO_EXAMPLE})."


def _bad_text(name: str, limit: int = MAX_TEXT) -> tuple[str, str]:
    return f"bad_{name}", f"{name} must be text of at most {limit} characters."


_REFUSALS = {
    **{
        name: _bad_id(name)
        for name in (
            "conversation_id",
            "complaint_id",
            "assigned_agent_id",
            "assignee_agent_id",
            "owner_agent_id",
        )
    },
    **{name: _bad_time(name) for name in ("window_start", "window_end", "due_at")},
    "reason": _bad_text("reason"),
    "note": _bad_text("note"),
    "title": _bad_text("title", MAX_TITLE),
    "claim_number": _bad_text("claim_number", MAX_NUMBER),
    "advance_payment_number": _bad_text("advance_payment_number", MAX_NUMBER),
    "phone": ("bad_phone", "phone must be 6 to 15 digits."),
    "team": ("unknown_team", "team: no such team."),
    "status": ("bad_status", "status must be one of open, in_progress, done, cancelled."),
    "outcome": ("unknown_outcome", f"outcome must be one of {', '.join(OUTCOMES)}."),
}


class CaseworkBody(Body):
    # Defaults are validated too, so that a required text left out is `<name>_required`.
    model_config = ConfigDict(validate_default=True)
    refusals = _REFUSALS


class NewCallback(CaseworkBody):
    """A callback from a conversation or a complaint (or both, if one customer's).

    No phone: the customer's mobile on file. No `assigned_agent_id`: the scheduling
    agent; null: the team's pool."""

    conversation_id: OptionalId = None
    complaint_id: OptionalId = None
    phone: Phone = None
    window_start: Time
    window_end: Time
    reason: Annotated[str, _trimmed(MAX_TEXT), _required("reason")] = ""
    assigned_agent_id: OptionalId = None

    @model_validator(mode="after")
    def _linked(self) -> Self:
        if self.conversation_id is None and self.complaint_id is None:
            raise CaseworkError("link_required", "Give the conversation_id or the complaint_id.")
        return self


class CallAttempt(CaseworkBody):
    """One call: reached, no answer, or rescheduled to a new window."""

    outcome: Outcome
    note: Note = None
    window_start: OptionalTime = None
    window_end: OptionalTime = None

    @property
    def new_window(self) -> tuple[datetime, datetime] | None:
        """Where a rescheduled callback moves to (None for the other outcomes)."""
        if self.outcome != "rescheduled" or self.window_start is None or self.window_end is None:
            return None
        return self.window_start, self.window_end

    @model_validator(mode="after")
    def _rescheduled_with_a_window(self) -> Self:
        if self.outcome == "rescheduled" and self.new_window is None:
            raise CaseworkError("window_required", "A rescheduled callback needs a new window.")
        return self


FOLLOW_UP_LINKS = ("conversation_id", "complaint_id", "claim_number", "advance_payment_number")


class NewFollowUp(CaseworkBody):
    """A task linked to exactly one conversation, complaint, claim or advance payment.

    No `assignee_agent_id`: the creating agent; null: the team's pool. No team: the
    assignee's, else the creator's."""

    title: Annotated[str, _trimmed(MAX_TITLE), _required("title")] = ""
    due_at: Time
    team: Annotated[str | None, BeforeValidator(_blank_is_none)] = None
    assignee_agent_id: OptionalId = None
    conversation_id: OptionalId = None
    complaint_id: OptionalId = None
    claim_number: Number = None
    advance_payment_number: Number = None

    @model_validator(mode="after")
    def _one_link(self) -> Self:
        if sum(getattr(self, name) is not None for name in FOLLOW_UP_LINKS) != 1:
            raise CaseworkError(
                "link_required", f"Link exactly one of {', '.join(FOLLOW_UP_LINKS)}."
            )
        return self


class FollowUpChanges(CaseworkBody):
    """A new status, assignee (null: back to the team's pool) or due date, with a note."""

    status: Status = None
    assignee_agent_id: OptionalId = None
    due_at: OptionalTime = None
    note: Note = None


class ComplaintChanges(CaseworkBody):
    """A new status or owner (null: unowned), with a note for the history."""

    status: Status = None
    owner_agent_id: OptionalId = None
    note: Note = None
