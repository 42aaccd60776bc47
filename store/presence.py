"""When a customer's live connection (the web chat's socket) was last seen, per
conversation: a queued customer gone for longer than the grace has left the queue
(an abandon, for the service level). Channels without a live connection (WeChat,
Telegram, the app API) have no row here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base


class CustomerPresence(Base):
    __tablename__ = "customer_presence"

    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
