"""Agents' wrap-ups: after an agent resolves a conversation they finish its paperwork
(notes, forms) before the contact is done with. One row per resolve by an agent,
named by the resolve's event; `finished_at` is set once, by a conditional UPDATE, so
the `wrap_up_done` event is written exactly once even with several processes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base


class WrapUp(Base):
    __tablename__ = "wrap_ups"
    # Housekeeping looks for the unfinished ones past the limit.
    __table_args__ = (Index("ix_wrap_ups_open", "finished_at", "started_at"),)

    resolve_event_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("events.id"), primary_key=True
    )
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
