"""The access matrix's doors: every HTTP route and socket event of the console, with
the answer each role gets (see the README's table of who may do what)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.console.access_records import (
    FILE_ID,
    TRAINING_INTENT,
    TRAINING_RESPONSE,
    Records,
)

ROLES = ("owner", "colleague", "other_team", "supervisor", "admin", "trainer", "anonymous")
STAFF = {
    "owner": "agent1",
    "colleague": "colleague1",
    "other_team": "agent2",
    "supervisor": "supervisor1",
    "admin": "admin1",
    "trainer": "trainer1",
}
CSRF = "matrix-csrf"


def only(allowed: Any, refused: Any, *roles: str, anonymous: Any = 401) -> dict[str, Any]:
    """`allowed` for `roles`, `refused` for the other signed-in roles."""
    answers = {role: (allowed if role in roles else refused) for role in ROLES}
    answers["anonymous"] = anonymous
    return answers


CASE_HANDLERS = ("owner", "supervisor", "admin")
CASEWORKERS = ("owner", "colleague", "other_team", "supervisor", "admin")
MANAGERS = ("supervisor", "admin")
EVERYONE = (*CASEWORKERS, "trainer")
TRAINERS = ("trainer", "admin")
# Doors of the trainers' workbench: their calls get an example of their own to edit.
TRAINING_PATHS = (
    "/api/v1/training/intents",
    "/api/v1/training/responses",
    "/api/v1/training/inbox",
    "/console/intents",
    "/console/responses",
    "/console/inbox",
)
# Doors of the models: their calls get a model and a finished job of their own.
MODEL_PATHS = ("/api/v1/training/models", "/api/v1/training/jobs", "/console/models")
# The models: trainers and admins train and deploy; supervisors read and override.
MODEL_READERS = (*TRAINERS, "supervisor")
MODEL_API = "/api/v1/training/models/{model}"
JOB_API = "/api/v1/training/jobs/{job}"
MODEL_PAGE = "/console/models/{model}"
INTENT_API = f"/api/v1/training/intents/{TRAINING_INTENT}"
INTENT_PAGE = f"/console/intents/{TRAINING_INTENT}"
STORY_API = "/api/v1/training/conversations/{conversation}/story"
STORY_PAGE = "/console/conversations/{conversation}/story"
INBOX_API = "/api/v1/training/inbox"
# A week of figures; trends of one figure, drill-down to the conversations behind one.
WEEK = "start=2026-12-01&end=2026-12-07&metric=containment&of=queue&part=answered"


def new_example(r: Records) -> dict[str, Any]:
    return {"text": f"matrix added {r.unique}", "version": r.intent_version}


def edited_example(r: Records) -> dict[str, Any]:
    return {"old": r.example, "new": f"matrix edited {r.unique}", "version": r.intent_version}


def removed_example(r: Records) -> dict[str, Any]:
    return {"text": r.example, "version": r.intent_version}


def moved_example(r: Records) -> dict[str, Any]:
    return {"text": r.example, "to": "goodbye", "version": r.intent_version}


def edited_response(r: Records) -> dict[str, Any]:
    return {"language": "en", "text": f"Hello {r.unique}", "version": r.response_version}


# ---- the doors ---------------------------------------------------------------------------


def later(hours: int) -> str:
    return (datetime.now(UTC) + timedelta(days=1, hours=hours)).isoformat()


@dataclass(frozen=True)
class Door:
    """One route: `path` is formatted with the call's `Records`; `body` is JSON (API)
    and `form` a posted page form; `listed` is (list key, record) for a list whose
    answer says whether the record is in it ("seen" or "unseen")."""

    method: str
    path: str
    expect: dict[str, Any]
    body: Callable[[Records], dict[str, Any]] | None = None
    form: Callable[[Records], dict[str, Any]] | None = None
    listed: tuple[str, str] | None = None

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


def callback_body(r: Records) -> dict[str, Any]:
    return {
        "conversation_id": r.conversation,
        "window_start": later(0),
        "window_end": later(1),
        "reason": "客户要求回电",
    }


def follow_up_body(r: Records) -> dict[str, Any]:
    return {"title": "核对发票", "due_at": later(2), "conversation_id": r.conversation}


CONVERSATION = "/api/v1/conversations/{conversation}"
LOGIN = "login"

# Signing in and out are not rights of a role: `POST /api/v1/auth/login` and
# `/api/v1/auth/logout` (which ends every session of the caller) are in test_api and
# test_sessions.
API_DOORS = [
    # Conversations: who may see them, who may act on them.
    Door(
        "GET",
        "/api/v1/conversations?state=assigned",
        {**only("seen", "unseen", *CASE_HANDLERS), "trainer": 403},
        listed=("conversations", "conversation"),
    ),
    Door(
        "GET",
        "/api/v1/conversations?state=queued",
        {**only("seen", "unseen", "owner", "colleague", *MANAGERS), "trainer": 403},
        listed=("conversations", "queued"),
    ),
    Door("GET", CONVERSATION, only(200, 403, *CASE_HANDLERS)),
    Door("GET", "/api/v1/conversations/{queued}", only(200, 403, "owner", "colleague", *MANAGERS)),
    Door("GET", CONVERSATION + "/messages", only(200, 403, *CASE_HANDLERS)),
    Door("GET", CONVERSATION + "/notes", only(200, 403, *CASE_HANDLERS)),
    Door(
        "POST",
        "/api/v1/conversations/{queued}/assign",
        only(200, 403, "owner", "colleague", *MANAGERS),
        body=lambda r: {},
    ),
    Door(
        "POST",
        CONVERSATION + "/assign",
        {**only(200, 403, *CASE_HANDLERS), "colleague": 409},
        body=lambda r: {},
    ),
    Door(
        "POST",
        CONVERSATION + "/messages",
        {**only(201, 403, "owner"), "supervisor": 409, "admin": 409},
        body=lambda r: {"text": "您好"},
    ),
    Door(
        "POST",
        CONVERSATION + "/resolve",
        only(200, 403, *CASE_HANDLERS),
        body=lambda r: {"reason": "answered"},
    ),
    Door(
        "POST",
        "/api/v1/conversations/{resolved}/resolve",
        only(200, 403, *CASE_HANDLERS),
        body=lambda r: {"reason": "answered"},
    ),
    # Finishing the wrap-up of a resolve: the owner's own, anyone's for managers; on
    # a conversation nobody is wrapping up, 409 to who may act on it.
    Door("POST", "/api/v1/conversations/{resolved}/wrap-up", only(200, 403, *CASE_HANDLERS)),
    Door("POST", CONVERSATION + "/wrap-up", only(409, 403, *CASE_HANDLERS)),
    Door(
        "POST",
        CONVERSATION + "/transfer",
        only(200, 403, *CASE_HANDLERS),
        body=lambda r: {"team": "claims", "note": "理赔问题"},
    ),
    Door(
        "POST",
        CONVERSATION + "/notes",
        only(201, 403, *CASE_HANDLERS),
        body=lambda r: {"text": "已核实身份"},
    ),
    Door(
        "PUT",
        CONVERSATION + "/labels",
        only(200, 403, *CASE_HANDLERS),
        body=lambda r: {"labels": ["vip"]},
    ),
    Door("GET", "/api/v1/documents/{document}", only(200, 403, *CASE_HANDLERS)),
    # The Telegram file proxy says "no such file" to whoever may not see it.
    Door(
        "GET",
        "/channels/telegram/files/{telegram_user}/" + FILE_ID,
        only(200, 404, *CASE_HANDLERS),
    ),
    # The agent's own settings.
    Door(
        "PUT",
        "/api/v1/me/presence",
        only(200, 403, *CASEWORKERS),
        body=lambda r: {"presence": "away"},
    ),
    Door(
        "PUT", "/api/v1/me/language", only(200, 403, *EVERYONE), body=lambda r: {"language": "en"}
    ),
    # People.
    Door("GET", "/api/v1/agents", only(200, 403, *EVERYONE)),
    Door(
        "POST",
        "/api/v1/agents",
        only(201, 403, "admin"),
        body=lambda r: {
            "username": f"new_{r.unique}",
            "display_name": "New",
            "password": "a long password",
        },
    ),
    Door(
        "PATCH",
        "/api/v1/agents/{agent}",
        only(200, 403, "admin"),
        body=lambda r: {"capacity": 4},
    ),
    Door("GET", "/api/v1/teams", only(200, 403, *EVERYONE)),
    Door(
        "POST",
        "/api/v1/teams",
        only(201, 403, "admin"),
        body=lambda r: {"code": f"team_{r.unique}", "name_zh": "新组", "name_en": "New"},
    ),
    Door("GET", "/api/v1/canned", only(200, 403, *CASEWORKERS)),
    Door(
        "POST",
        "/api/v1/canned",
        only(201, 403, *MANAGERS),
        body=lambda r: {"shortcut": f"c_{r.unique}", "language": "en", "text": "Hello"},
    ),
    Door("DELETE", "/api/v1/canned/{canned}", only(200, 403, *MANAGERS)),
    # Casework.
    Door("GET", "/api/v1/customers/{customer}", only(200, 403, *CASE_HANDLERS)),
    Door(
        "GET",
        "/api/v1/callbacks?scope=all",
        {**only("seen", "unseen", *CASE_HANDLERS), "trainer": 403},
        listed=("callbacks", "callback"),
    ),
    Door("POST", "/api/v1/callbacks", only(201, 403, *CASE_HANDLERS), body=callback_body),
    Door(
        "POST",
        "/api/v1/callbacks/{callback}/attempts",
        only(200, 403, *CASE_HANDLERS),
        body=lambda r: {"outcome": "no_answer", "note": "无人接听"},
    ),
    Door(
        "GET",
        "/api/v1/follow-ups",
        {**only("seen", "unseen", "owner", "colleague", *MANAGERS), "trainer": 403},
        listed=("follow_ups", "follow_up"),
    ),
    Door("POST", "/api/v1/follow-ups", only(201, 403, *CASE_HANDLERS), body=follow_up_body),
    Door(
        "PATCH",
        "/api/v1/follow-ups/{follow_up}",
        only(200, 403, "owner", "colleague", *MANAGERS),
        body=lambda r: {"note": "已联系"},
    ),
    Door(
        "GET",
        "/api/v1/complaints",
        {**only("seen", "unseen", *CASE_HANDLERS), "trainer": 403},
        listed=("complaints", "complaint"),
    ),
    Door(
        "PATCH",
        "/api/v1/complaints/{complaint}",
        only(200, 403, *CASE_HANDLERS),
        body=lambda r: {"status": "in_progress"},
    ),
    # The trainers' workbench.
    Door("GET", "/api/v1/training/intents?q=matrix", only(200, 403, *TRAINERS)),
    Door("GET", INTENT_API, only(200, 403, *TRAINERS)),
    Door("POST", INTENT_API + "/examples", only(201, 403, *TRAINERS), body=new_example),
    Door("PATCH", INTENT_API + "/examples", only(200, 403, *TRAINERS), body=edited_example),
    Door("DELETE", INTENT_API + "/examples", only(200, 403, *TRAINERS), body=removed_example),
    Door("POST", INTENT_API + "/examples/move", only(200, 403, *TRAINERS), body=moved_example),
    Door("GET", "/api/v1/training/responses", only(200, 403, *TRAINERS)),
    # The review inbox.
    Door("GET", INBOX_API + "?status=all&q=matrix", only(200, 403, *TRAINERS)),
    Door("GET", INBOX_API + "/{parsed}/conversation", only(200, 403, *TRAINERS)),
    Door(
        "POST",
        INBOX_API + "/{parsed}/decision",
        only(200, 403, *TRAINERS),
        body=lambda r: {"action": "relabel", "label": "goodbye"},
    ),
    Door(
        "POST",
        INBOX_API + "/decisions",
        only(200, 403, *TRAINERS),
        body=lambda r: {"ids": [r.parsed], "action": "confirm"},
    ),
    Door("POST", INBOX_API + "/{reviewed}/undo", only(200, 403, *TRAINERS), body=lambda r: {}),
    # An agent's "the bot misunderstood this", on a conversation they may see.
    Door(
        "POST",
        CONVERSATION + "/messages/1/flag",
        only(200, 403, *CASE_HANDLERS),
        body=lambda r: {"intent": "ask_claim_status"},
    ),
    Door(
        "PUT",
        f"/api/v1/training/responses/{TRAINING_RESPONSE}",
        only(200, 403, *TRAINERS),
        body=edited_response,
    ),
    # Rasa is not running here: a trainer reaches the story and hears the bot is away.
    Door("GET", STORY_API, only(503, 403, *TRAINERS)),
    Door("POST", STORY_API, only(503, 403, *TRAINERS)),
    # The models. The matrix's console has no production model (a fine-tune is refused
    # after the role check), its models' files are missing (a deploy, override or
    # rollback is refused before Rasa is asked) and its jobs have finished.
    Door("GET", "/api/v1/training/jobs", only(200, 403, *TRAINERS)),
    Door(
        "POST",
        "/api/v1/training/jobs",
        only(409, 403, *TRAINERS),
        body=lambda r: {"kind": "finetune"},
    ),
    Door("GET", JOB_API, only(200, 403, *TRAINERS)),
    Door("GET", JOB_API + "/log", only(200, 403, *TRAINERS)),
    Door("POST", JOB_API + "/cancel", only(409, 403, *TRAINERS), body=lambda r: {}),
    Door("GET", "/api/v1/training/models", only(200, 403, *MODEL_READERS)),
    # The supervisors' figures (an agent reads their own agent figures, nobody else's).
    *(
        Door("GET", f"/api/v1/analytics/{name}?{WEEK}", only(200, 403, *readers))
        for name, readers in (
            ("queue", MANAGERS),
            ("agents", CASEWORKERS),
            ("bot", MANAGERS),
            ("forms", MANAGERS),
            ("contacts", MANAGERS),
            ("outcome", MANAGERS),
            ("casework", MANAGERS),
            ("funnel", MANAGERS),
            ("claims", MANAGERS),
            ("resolution", MANAGERS),
            ("conversations.csv", MANAGERS),
            ("trends", MANAGERS),
            ("drilldown", MANAGERS),
        )
    ),
    Door("GET", "/api/v1/analytics/staffing?day=2026-12-08", only(200, 403, *MANAGERS)),
    # The audit log: whoever reads the models reads every trainer's act.
    Door("GET", "/api/v1/training/changes", only(200, 403, *MODEL_READERS)),
    Door(
        "GET", "/api/v1/training/changes?kind=model&before=1000000", only(200, 403, *MODEL_READERS)
    ),
    Door("GET", MODEL_API, only(200, 403, *MODEL_READERS)),
    Door("POST", MODEL_API + "/deploy", only(409, 403, *TRAINERS), body=lambda r: {}),
    Door("POST", MODEL_API + "/rollback", only(409, 403, *TRAINERS), body=lambda r: {}),
    Door(
        "POST",
        MODEL_API + "/override",
        only(409, 403, *MANAGERS),
        body=lambda r: {"reason": "the matrix says so"},
    ),
]

# Pages answer 200, a 403 page, a redirect to the login, or a form's redirect back
# saying "saved" or "refused:<code>".
PAGE_DOORS = [
    Door("GET", "/console", only(200, 403, *CASEWORKERS, anonymous=LOGIN)),
    Door("GET", "/dev/outbox", only(200, 403, *CASEWORKERS, anonymous=LOGIN)),
    Door("GET", "/admin", only(200, 403, "admin", anonymous=LOGIN)),
    Door(
        "POST",
        "/admin/agents",
        only("saved", 403, "admin", anonymous=LOGIN),
        form=lambda r: {
            "username": f"form_{r.unique}",
            "display_name": "Form",
            "password": "a long password",
            "role": "agent",
            "team": "general",
            "capacity": "3",
        },
    ),
    Door(
        "POST",
        "/admin/agents/{agent}",
        only("saved", 403, "admin", anonymous=LOGIN),
        form=lambda r: {
            "display_name": "Spare",
            "role": "agent",
            "team": "general",
            "capacity": "5",
            "active": "on",
        },
    ),
    Door(
        "POST",
        "/admin/agents/{agent}/password",
        only("saved", 403, "admin", anonymous=LOGIN),
        form=lambda r: {"password": "another long password"},
    ),
    Door(
        "POST",
        "/admin/teams",
        only("saved", 403, "admin", anonymous=LOGIN),
        form=lambda r: {"code": f"form_{r.unique}", "name_zh": "表单组", "name_en": "Form"},
    ),
    Door("GET", "/admin/canned", only(200, 403, *MANAGERS, anonymous=LOGIN)),
    Door(
        "POST",
        "/admin/canned",
        only("saved", 403, *MANAGERS, anonymous=LOGIN),
        form=lambda r: {"shortcut": f"f_{r.unique}", "language": "zh", "text": "您好"},
    ),
    Door(
        "POST",
        "/admin/canned/{canned}/delete",
        only("saved", 403, *MANAGERS, anonymous=LOGIN),
        form=lambda r: {},
    ),
    Door(
        "POST",
        "/me/language",
        only("back", 403, *EVERYONE, anonymous=LOGIN),
        form=lambda r: {"language": "en", "next": "/console"},
    ),
    Door("GET", "/console/callbacks", only(200, 403, *CASEWORKERS, anonymous=LOGIN)),
    Door("GET", "/console/follow-ups", only(200, 403, *CASEWORKERS, anonymous=LOGIN)),
    Door("GET", "/console/complaints", only(200, 403, *CASEWORKERS, anonymous=LOGIN)),
    Door(
        "POST",
        "/console/callbacks",
        {**only("saved", "refused:forbidden", *CASE_HANDLERS, anonymous=LOGIN), "trainer": 403},
        form=callback_body,
    ),
    Door(
        "POST",
        "/console/callbacks/{callback}/attempts",
        {**only("saved", "refused:forbidden", *CASE_HANDLERS, anonymous=LOGIN), "trainer": 403},
        form=lambda r: {"outcome": "no_answer"},
    ),
    Door(
        "POST",
        "/console/follow-ups/{follow_up}",
        {
            **only("saved", "refused:forbidden", "owner", "colleague", *MANAGERS, anonymous=LOGIN),
            "trainer": 403,
        },
        form=lambda r: {"note": "已联系"},
    ),
    Door(
        "POST",
        "/console/complaints/{complaint}",
        {**only("saved", "refused:forbidden", *CASE_HANDLERS, anonymous=LOGIN), "trainer": 403},
        form=lambda r: {"status": "in_progress"},
    ),
    # The trainers' workbench: a form is answered with the page itself, saved (200).
    Door("GET", "/console/intents?q=matrix", only(200, 403, *TRAINERS, anonymous=LOGIN)),
    Door("GET", INTENT_PAGE, only(200, 403, *TRAINERS, anonymous=LOGIN)),
    Door("GET", "/console/responses", only(200, 403, *TRAINERS, anonymous=LOGIN)),
    Door("GET", "/console/inbox?status=all", only(200, 403, *TRAINERS, anonymous=LOGIN)),
    Door(
        "POST", INTENT_PAGE + "/add", only(200, 403, *TRAINERS, anonymous=LOGIN), form=new_example
    ),
    Door(
        "POST",
        INTENT_PAGE + "/edit",
        only(200, 403, *TRAINERS, anonymous=LOGIN),
        form=edited_example,
    ),
    Door(
        "POST",
        INTENT_PAGE + "/delete",
        only(200, 403, *TRAINERS, anonymous=LOGIN),
        form=removed_example,
    ),
    Door(
        "POST",
        INTENT_PAGE + "/move",
        only(200, 403, *TRAINERS, anonymous=LOGIN),
        form=moved_example,
    ),
    Door(
        "POST",
        f"/console/responses/{TRAINING_RESPONSE}",
        only(200, 403, *TRAINERS, anonymous=LOGIN),
        form=edited_response,
    ),
    Door("GET", STORY_PAGE, only(200, 403, *TRAINERS, anonymous=LOGIN)),
    Door("POST", STORY_PAGE, only(503, 403, *TRAINERS, anonymous=LOGIN), form=lambda r: {}),
    # The models' pages: forms answer with a redirect back saying what happened.
    Door("GET", "/console/models", only(200, 403, *MODEL_READERS, anonymous=LOGIN)),
    Door("GET", "/console/changes", only(200, 403, *MODEL_READERS, anonymous=LOGIN)),
    # The live wallboard and the analytics page.
    Door("GET", "/console/wallboard", only(200, 403, *MANAGERS, anonymous=LOGIN)),
    Door("GET", "/console/analytics", only(200, 403, *MANAGERS, anonymous=LOGIN)),
    Door("GET", MODEL_PAGE, only(200, 403, *MODEL_READERS, anonymous=LOGIN)),
    Door(
        "POST",
        "/console/models/train",
        only("refused:no_production_model", 403, *TRAINERS, anonymous=LOGIN),
        form=lambda r: {"kind": "finetune"},
    ),
    Door(
        "POST",
        "/console/models/jobs/{job}/cancel",
        only("refused:not_running", 403, *TRAINERS, anonymous=LOGIN),
        form=lambda r: {},
    ),
    Door(
        "POST",
        MODEL_PAGE + "/deploy",
        only("refused:model_file_missing", 403, *TRAINERS, anonymous=LOGIN),
        form=lambda r: {},
    ),
    Door(
        "POST",
        MODEL_PAGE + "/rollback",
        only("refused:model_file_missing", 403, *TRAINERS, anonymous=LOGIN),
        form=lambda r: {},
    ),
    Door(
        "POST",
        MODEL_PAGE + "/override",
        only("refused:model_file_missing", 403, *MANAGERS, anonymous=LOGIN),
        form=lambda r: {"reason": "the matrix says so"},
    ),
]


# ---- socket events -------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """A socket event on `target`'s conversation; `expect` is "ok" or the refusal code."""

    name: str
    expect: dict[str, str]
    target: str = "conversation"
    data: dict[str, Any] = field(default_factory=dict)


def refused_unless(*roles: str, code: str = "forbidden", **special: str) -> dict[str, str]:
    answers = {role: ("ok" if role in roles else code) for role in CASEWORKERS}
    return {**answers, **special}


EVENTS = [
    Event("watch", refused_unless(*CASE_HANDLERS)),
    Event("accept", refused_unless("owner", "colleague", *MANAGERS), target="queued"),
    Event("accept", refused_unless(*CASE_HANDLERS, colleague="already_assigned")),
    Event(
        "send",
        refused_unless("owner", supervisor="not_assigned", admin="not_assigned"),
        data={"text": "您好"},
    ),
    Event("note", refused_unless(*CASE_HANDLERS), data={"text": "已核实"}),
    Event("labels", refused_unless(*CASE_HANDLERS), data={"labels": ["vip"]}),
    Event("transfer", refused_unless(*CASE_HANDLERS), data={"team": "claims", "note": "理赔问题"}),
    Event("resolve", refused_unless(*CASE_HANDLERS), data={"reason": "answered"}),
    Event(
        "resolve", refused_unless(*CASE_HANDLERS), target="resolved", data={"reason": "answered"}
    ),
    Event("canned", refused_unless(*CASE_HANDLERS), data={"shortcut": "{canned_shortcut}"}),
    # Acknowledgements and typing by someone not handling it change nothing; they are
    # answered alike so that they tell nothing either.
    Event("ack", refused_unless(*CASEWORKERS), data={"seq": 1}),
    Event("typing", refused_unless(*CASEWORKERS), data={"typing": True}),
    # The wallboard's snapshot: supervisors and admins.
    Event("wallboard", refused_unless(*MANAGERS)),
]
