"""What every part of the generator shares: the random stream, ids that continue
the store's, the ID card numbers in use, the rows built so far (plain dicts, one
list per table), and adding a claim with its stage history, which drawn and fixed
customers do alike."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table

from store.identifiers import make_claim_number
from store.models import (
    Claim,
    ClaimKind,
    ClaimStage,
    ClaimStageChange,
    Customer,
    InsuredMember,
    Policy,
)

MODELS = (Customer, Policy, InsuredMember, Claim, ClaimStageChange)
TABLES: tuple[Table, ...] = tuple(model.__table__ for model in MODELS)  # type: ignore[misc]
_APPROVED = (ClaimStage.APPROVED, ClaimStage.PAID)
_CLOSED = (ClaimStage.PAID, ClaimStage.REJECTED)


def cum(weights: Iterable[float]) -> list[float]:
    """Cumulative weights, for `random.choices(..., cum_weights=...)`."""
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


class RowBuilder:
    """Builds rows as plain dicts; ids are assigned here, continuing the store's.
    The generator's parts (`People`, `Policies`, `Claims`) draw on its state."""

    def __init__(self, rng: random.Random, first_ids: dict[str, int], taken: set[str]):
        self.rng = rng
        self.next = dict(first_ids)
        self.taken = taken  # ID card numbers in use
        self.rows: dict[str, list[dict[str, Any]]] = {t.name: [] for t in TABLES}
        self.demo: list[str] = []  # summary lines about the fixed demo customers

    def take_id(self, table: str) -> int:
        value = self.next[table]
        self.next[table] = value + 1
        return value

    def add_claim(
        self,
        *,
        policy: dict[str, Any],
        member: dict[str, Any],
        kind: ClaimKind,
        incident: date,
        hospital: str,
        claimed: Decimal,
        approved: Decimal,
        history: list[tuple[ClaimStage, datetime, str | None]],
        missing: list[str],
        reason: str | None,
    ) -> None:
        claim_id = self.take_id("claims")
        stage, last_at = history[-1][0], history[-1][1]
        self.rows["claims"].append(
            {
                "id": claim_id,
                "number": make_claim_number(claim_id),
                "policy_id": policy["id"],
                "member_id": member["id"],
                "kind": kind,
                "incident_date": incident,
                "hospital": hospital,
                "amount_claimed": claimed,
                "amount_approved": approved if stage in _APPROVED else None,
                "amount_paid": approved if stage == ClaimStage.PAID else None,
                "stage": stage,
                "missing_documents": missing if stage == ClaimStage.DOCUMENTS_PENDING else [],
                "rejection_reason": reason if stage == ClaimStage.REJECTED else None,
                "submitted_at": history[0][1],
                "closed_at": last_at if stage in _CLOSED else None,
            }
        )
        changes = self.rows["claim_stage_changes"]
        for stage, at, note in history:
            changes.append(
                {
                    "id": self.take_id("claim_stage_changes"),
                    "claim_id": claim_id,
                    "stage": stage,
                    "at": at,
                    "note": note,
                }
            )
