"""Drawing policies: when a customer bought each product, for how long, at what
premium, how it stands now (active, lapsed, expired, cancelled), and which relatives
it insures."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from store.demo.dates import REFERENCE_DATE, add_years
from store.demo.products import (
    CRITICAL_ILLNESS_SINCE,
    LONG_TERM_MEDICAL_SINCE,
    TWENTY_YEAR_TERM_SINCE,
)
from store.demo.rows import RowBuilder
from store.identifiers import make_policy_number
from store.models import PolicyKind, PolicyStatus

_MEDICAL_POLICIES = (PolicyKind.LONG_TERM_MEDICAL, PolicyKind.SHORT_TERM_MEDICAL)
_LONG_STATUSES = (PolicyStatus.ACTIVE, PolicyStatus.LAPSED, PolicyStatus.CANCELLED)
_LONG_STATUS_WEIGHTS = (86, 9, 5)
_SHORT_STATUSES = (
    PolicyStatus.ACTIVE,
    PolicyStatus.EXPIRED,
    PolicyStatus.CANCELLED,
    PolicyStatus.LAPSED,
)
_SHORT_STATUS_WEIGHTS = (68, 22, 6, 4)
# Chance that a relative is insured on a policy of each kind.
_MEMBER_CHANCES = {
    PolicyKind.LONG_TERM_MEDICAL: {"spouse": 0.35, "child": 0.4, "parent": 0.15},
    PolicyKind.SHORT_TERM_MEDICAL: {"spouse": 0.3, "child": 0.35, "parent": 0.12},
    PolicyKind.CRITICAL_ILLNESS: {"spouse": 0.0, "child": 0.08, "parent": 0.0},
    PolicyKind.ACCIDENT: {"spouse": 0.1, "child": 0.05, "parent": 0.0},
}


class Policies(RowBuilder):
    """The generator's policies and the members they insure."""

    def policy(
        self, customer: dict[str, Any], product: dict[str, Any], adult_from: date
    ) -> tuple[dict[str, Any], date]:
        """A policy row and the last day it covered (or covers)."""
        rng = self.rng
        kind = product["kind"]
        ref = REFERENCE_DATE
        if product["long_term"]:
            on_sale = kind == PolicyKind.LONG_TERM_MEDICAL and LONG_TERM_MEDICAL_SINCE
            lo = max(on_sale or CRITICAL_ILLNESS_SINCE, adult_from)
            start = lo + timedelta(days=rng.randrange(max((ref - lo).days - 6, 1)))
            if kind == PolicyKind.LONG_TERM_MEDICAL:
                term = 6 if start < TWENTY_YEAR_TERM_SINCE else 20
            else:
                term = rng.choice(product["term_years"])
            expiry = add_years(start, term) - timedelta(days=1)
            status = rng.choices(_LONG_STATUSES, _LONG_STATUS_WEIGHTS)[0]
            years_held = (ref - start).days // 365
            if status == PolicyStatus.LAPSED and years_held >= 1:
                # The renewal premium was not paid: cover ended on an anniversary.
                covered_to = add_years(start, rng.randrange(1, years_held + 1)) - timedelta(1)
            elif status != PolicyStatus.ACTIVE:
                status = PolicyStatus.CANCELLED
                covered_to = start + timedelta(days=rng.randrange(max((ref - start).days, 1)))
            else:
                covered_to = expiry
        else:
            status = rng.choices(_SHORT_STATUSES, _SHORT_STATUS_WEIGHTS)[0]
            if status == PolicyStatus.EXPIRED:
                start = ref - timedelta(days=rng.randrange(366, 3 * 365))
                if start < adult_from:
                    status = PolicyStatus.ACTIVE
            if status != PolicyStatus.EXPIRED:
                start = max(ref - timedelta(days=rng.randrange(1, 365)), adult_from)
            expiry = add_years(start, 1) - timedelta(days=1)
            held = (ref - start).days
            covered_to = expiry
            if status == PolicyStatus.CANCELLED:
                covered_to = start + timedelta(days=rng.randrange(max(held, 1)))
            elif status == PolicyStatus.LAPSED:
                if held > 30:  # paid monthly, and the payments stopped
                    covered_to = start + timedelta(days=30 * rng.randrange(1, held // 30 + 1) - 1)
                else:
                    status = PolicyStatus.ACTIVE
        # Premiums rise with age at purchase; medical cover costs more without social insurance.
        age = (start - customer["birth_date"]).days / 365.25
        low, high = product["premium"]
        factor = min(1.0, (max(age, 18) - 15) / 60) ** 2 * rng.uniform(0.8, 1.0)
        if kind in _MEDICAL_POLICIES and not customer["has_social_insurance"]:
            factor = min(1.0, factor * 1.9)
        policy_id = self.take_id("policies")
        row = {
            "id": policy_id,
            "number": make_policy_number(policy_id),
            "holder_id": customer["id"],
            "product_code": product["code"],
            "product_name": product["name_zh"],
            "kind": kind,
            "long_term": product["long_term"],
            "status": status,
            "sum_insured": Decimal(rng.choice(product["sum_insured"])),
            "premium": Decimal(round(low + (high - low) * factor)),
            "effective_date": start,
            "expiry_date": expiry,
        }
        return row, covered_to

    def members(
        self, customer: dict[str, Any], policy: dict[str, Any], relatives: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        rng = self.rng
        rows = [
            {
                "id": self.take_id("insured_members"),
                "policy_id": policy["id"],
                "customer_id": customer["id"],
                "name": customer["name"],
                "relation": "self",
                "id_card_number": customer["id_card_number"],
                "birth_date": customer["birth_date"],
            }
        ]
        chances = _MEMBER_CHANCES[policy["kind"]]
        # Babies can be insured from 28 days old, and nobody older than 70 at entry.
        youngest = policy["effective_date"] - timedelta(days=28)
        oldest = add_years(policy["effective_date"], -71) + timedelta(days=1)
        for relative in relatives:
            if oldest <= relative["birth_date"] <= youngest and (
                rng.random() < chances[relative["relation"]]
            ):
                member = dict(relative)
                member["id"] = self.take_id("insured_members")
                member["policy_id"] = policy["id"]
                member["customer_id"] = None
                rows.append(member)
        return rows
