"""Fresh records for one call of the access matrix: each role's call acts on its own
conversation, callback, follow-up, complaint, document, ..., so no call decides another's."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from desk.training.examples import add_example, intent_examples
from desk.training.project import Project
from desk.training.responses import response
from store.models import (
    Agent,
    AgentRole,
    Callback,
    CannedResponse,
    Complaint,
    Conversation,
    ConversationState,
    Document,
    Event,
    FollowUp,
    Message,
    SenderKind,
)
from store.workbench import BotModel, ParsedMessage, TrainingJob
from store.wrap_ups import WrapUp
from tests.console.test_casework import new_customer

serial = itertools.count(1)


@dataclass
class Records:
    """Ids of fresh records, and unique names for what a call creates."""

    conversation: int  # assigned to the owner, team general, with a known customer
    queued: int  # waiting in the general team's queue
    resolved: int  # the owner resolved it
    customer: int
    callback: int
    follow_up: int
    complaint: int
    document: int
    canned: int
    canned_shortcut: str
    agent: int  # a plain agent an admin may edit
    telegram_user: str  # the owner's Telegram conversation, holding FILE_ID
    unique: str
    # With the workbench's project: an example of TRAINING_INTENT only this call knows,
    # and the versions of that intent and of TRAINING_RESPONSE as they are now.
    example: str = ""
    intent_version: str = ""
    response_version: str = ""
    # The owner's conversation's customer messages, in the review inbox: `parsed` not
    # yet reviewed (seq 1), `reviewed` already decided (seq 2).
    parsed: int = 0
    reviewed: int = 0
    # With the workbench: a model whose gate passes but whose file is missing (every
    # deploy, override or rollback of it is refused after the role check, and nothing
    # reaches Rasa), and a training job that has finished (a cancel is refused).
    model: int = 0
    job: int = 0

    def __getitem__(self, name: str) -> Any:
        return getattr(self, name)


FILE_ID = "AgACAgIAAxk-matrix"
TRAINING_INTENT = "greet"
TRAINING_RESPONSE = "utter_greet"


def letters(n: int) -> str:
    """A unique lowercase word (team codes and usernames allow no digits)."""
    word = ""
    while True:
        n, r = divmod(n, 26)
        word += chr(97 + r)
        if n == 0:
            return word


async def make_records(
    sessions,
    staff: dict[str, Agent],
    upload_dir: Path,
    spare_agent: bool = False,
    project: Project | None = None,
    models: bool = False,
) -> Records:
    """`spare_agent`: also a plain agent for an admin to edit (only when the call
    needs one: every agent is a choice in the casework pages' forms). `project`: also
    an example of the workbench's to edit, delete or move. `models`: also a model and a
    finished training job."""
    n = next(serial)
    training: dict[str, str] = {}
    if project is not None:
        seed = f"matrix seed {letters(n)}"
        seen = intent_examples(project, TRAINING_INTENT).version
        saved = add_example(project, TRAINING_INTENT, seed, seen)
        training = {
            "example": seed,
            "intent_version": saved.intent.version,
            "response_version": response(project, TRAINING_RESPONSE).version,
        }
    owner = staff["owner"]
    soon = datetime.now(UTC) + timedelta(days=2)
    async with sessions.begin() as session:
        customer = new_customer(n * 10 + 8, "张伟", f"138{n:08d}")
        stranger = new_customer(n * 10 + 9, "李娜", f"139{n:08d}")
        session.add_all([customer, stranger])
        await session.flush()

        def conversation(
            state, agent_id=None, channel="web", external=None, whose=customer
        ) -> Conversation:
            return Conversation(
                channel=channel,
                external_user_id=external or f"matrix-{n}-{state.value}",
                customer_id=whose.id,
                state=state,
                team="general",
                assigned_agent_id=agent_id,
                queued_at=datetime.now(UTC),
            )

        mine = conversation(ConversationState.ASSIGNED, owner.id)
        # Another customer's: a customer waiting in a team's queue may be seen by the team.
        queued = conversation(ConversationState.QUEUED, whose=stranger)
        resolved = conversation(ConversationState.RESOLVED, owner.id)
        telegram = conversation(ConversationState.ASSIGNED, owner.id, "telegram", str(900000 + n))
        spare = Agent(
            username=f"spare_{letters(n)}",
            display_name="Spare",
            password_hash=staff["owner"].password_hash,
            role=AgentRole.AGENT,
            team="general",
        )
        session.add_all([mine, queued, resolved, telegram])
        if spare_agent:
            session.add(spare)
        await session.flush()
        # The owner resolved it and is still wrapping it up.
        resolve = Event(
            at=datetime.now(UTC),
            kind="resolved",
            conversation_id=resolved.id,
            agent_id=owner.id,
            data={"by": "agent", "reason": "answered"},
        )
        session.add(resolve)
        await session.flush()
        session.add(
            WrapUp(
                resolve_event_id=resolve.id,
                conversation_id=resolved.id,
                agent_id=owner.id,
                started_at=resolve.at,
            )
        )
        complaint = Complaint(
            number=f"TS{n:012d}",
            customer_id=customer.id,
            conversation_id=mine.id,
            category="service",
            description="客服态度差",
            owner_agent_id=owner.id,
            due_at=soon,
            history=[],
        )
        session.add(complaint)
        await session.flush()
        callback = Callback(
            customer_id=customer.id,
            conversation_id=mine.id,
            phone=customer.mobile,
            window_start=soon,
            window_end=soon + timedelta(hours=1),
            reason="回电说明理赔进度",
            assigned_agent_id=owner.id,
            created_by_agent_id=owner.id,
        )
        follow_up = FollowUp(
            kind="conversation",
            title="补充材料",
            customer_id=customer.id,
            conversation_id=mine.id,
            team="general",
            assignee_agent_id=owner.id,
            due_at=soon,
        )
        stored = upload_dir / f"matrix-{n}.pdf"
        stored.write_bytes(b"%PDF-1.4 matrix")
        document = Document(
            conversation_id=mine.id,
            customer_id=customer.id,
            channel="web",
            name="invoice.pdf",
            mime="application/pdf",
            size=15,
            sha256="0" * 64,
            path=stored.name,
        )
        canned = CannedResponse(shortcut=f"m{n}", language="zh", text="您好")
        # The Telegram conversation holds a photo the customer sent (its link).
        telegram.last_seq = 1
        photo = Message(
            conversation_id=telegram.id,
            seq=1,
            sender=SenderKind.CUSTOMER,
            payload={
                "attachment": {
                    "url": f"/channels/telegram/files/{telegram.external_user_id}/{FILE_ID}"
                }
            },
        )
        # Two customer messages the bot parsed, for the review inbox and agents' flags.
        mine.last_seq = 2
        said = [
            Message(conversation_id=mine.id, seq=seq, sender=SenderKind.CUSTOMER, text=text)
            for seq, text in ((1, f"matrix inbox {letters(n)}"), (2, f"matrix seen {letters(n)}"))
        ]
        session.add_all([callback, follow_up, document, canned, photo, *said])
        await session.flush()
        parsed, reviewed = (
            ParsedMessage(
                message_id=message.id,
                conversation_id=mine.id,
                seq=message.seq,
                channel="web",
                language="en",
                text=message.text or "",
                intent="greet",
                confidence=0.5,
                fallback=False,
                rank=1,
                status=status,
                reviewed=status != "new",
            )
            for message, status in zip(said, ("new", "ignored"), strict=True)
        )
        session.add_all([parsed, reviewed])
        await session.flush()
        model_id = job_id = 0
        if models:
            model = BotModel(
                file=f"matrix-{n}.tar.gz",
                sha256="0" * 64,
                kind="finetune",
                data_hash="0" * 64,
                metrics={"gate": {"passed": True, "reasons": []}},
                # once in production, so that a rollback to it gets as far as its file
                deployed_at=datetime.now(UTC),
            )
            session.add(model)
            await session.flush()
            job = TrainingJob(
                kind="finetune", status="succeeded", requested_by=owner.id, progress={}, log=""
            )
            session.add(job)
            await session.flush()
            model_id, job_id = model.id, job.id
        return Records(
            conversation=mine.id,
            queued=queued.id,
            resolved=resolved.id,
            customer=customer.id,
            callback=callback.id,
            follow_up=follow_up.id,
            complaint=complaint.id,
            document=document.id,
            canned=canned.id,
            canned_shortcut=canned.shortcut,
            agent=spare.id or 0,
            telegram_user=telegram.external_user_id,
            unique=letters(n),
            parsed=parsed.id,
            reviewed=reviewed.id,
            model=model_id,
            job=job_id,
            **training,
        )
