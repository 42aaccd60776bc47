"""The demo-data generator: whole customers, batch by batch. A drawn customer gets
a family, one to three products with their members and claims, a sign-up time,
tags and a bank card; a fixed demo customer is written as its spec says."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from store.demo.claims import Claims
from store.demo.dates import add_years, beijing_time
from store.demo.fixed_customers import DEMO_CUSTOMERS
from store.demo.people import People
from store.demo.policies import Policies
from store.demo.products import CLAIM_CHANCE, PRODUCT_BY_CODE, PRODUCTS
from store.demo.rows import TABLES
from store.identifiers import make_policy_number
from store.models import Customer, PolicyKind, PolicyStatus

_PRODUCT_WEIGHTS = [p["weight"] for p in PRODUCTS]
_CUSTOMER_COLUMNS = [c.name for c in Customer.__table__.columns]
_PERSON = ("name", "id_card_number", "birth_date")


class Generator(People, Policies, Claims):
    """Builds whole customers' rows; ids continue the store's."""

    def random_customer(self, cid: int) -> None:
        rng = self.rng
        customer, region = self.customer(cid)
        relatives = self.family(customer, region)
        adult_from = add_years(customer["birth_date"], 18)
        count = rng.choices((1, 2, 3), (62, 28, 10))[0]
        products = list(PRODUCTS)
        weights = list(_PRODUCT_WEIGHTS)
        card = f"{rng.randrange(10_000):04d}"
        policies = []
        for _ in range(count):
            i = rng.choices(range(len(products)), weights)[0]
            product = products.pop(i)
            weights.pop(i)
            policy, covered_to = self.policy(customer, product, adult_from)
            members = self.members(customer, policy, relatives)
            policies.append((policy, members))
            self.rows["policies"].append(policy)
            self.rows["insured_members"] += members
            chance = CLAIM_CHANCE[product["kind"]]
            claims = (rng.random() < chance) + (rng.random() < chance * 0.2)
            for _ in range(claims):
                member = members[0] if rng.random() < 0.65 else rng.choice(members)
                self.claim(customer, policy, covered_to, member, card)
        first_day = min(p["effective_date"] for p, _ in policies)
        minute = rng.randrange(9 * 60, 22 * 60)
        signed_up = max(first_day - timedelta(days=rng.randrange(0, 20)), adult_from)
        customer["created_at"] = beijing_time(signed_up, minute // 60, minute % 60)
        customer["tags"] = _tags(customer, policies)
        customer["bank_account"] = _bank_account(cid, card)
        self.rows["customers"].append(customer)

    def fixed_customer(self, spec: dict[str, Any]) -> None:
        """One of the README's demo customers: every value fixed, none drawn."""
        customer = {k: spec[k] for k in _CUSTOMER_COLUMNS}
        policies = []
        for p in spec["policies"]:
            product = PRODUCT_BY_CODE[p["product"]]
            policy_id = self.take_id("policies")
            policy = {
                "id": policy_id,
                "number": make_policy_number(policy_id),
                "holder_id": customer["id"],
                "product_code": product["code"],
                "product_name": product["name_zh"],
                "kind": product["kind"],
                "long_term": product["long_term"],
                "status": PolicyStatus.ACTIVE,
                "sum_insured": Decimal(p["sum_insured"]),
                "premium": Decimal(p["premium"]),
                "effective_date": p["effective_date"],
                "expiry_date": add_years(p["effective_date"], p["term_years"]) - timedelta(1),
            }
            people = [{**{k: spec[k] for k in _PERSON}, "relation": "self"}, *p["members"]]
            members = [
                {
                    "id": self.take_id("insured_members"),
                    "policy_id": policy_id,
                    "customer_id": customer["id"] if m["relation"] == "self" else None,
                    **{k: m[k] for k in (*_PERSON, "relation")},
                }
                for m in people
            ]
            policies.append((policy, members))
            self.rows["policies"].append(policy)
            self.rows["insured_members"] += members
            for c in p["claims"]:
                member = next(m for m in members if m["name"] == c["member"])
                self.add_claim(
                    policy=policy,
                    member=member,
                    kind=c["kind"],
                    incident=c["incident"],
                    hospital=c["hospital"],
                    claimed=Decimal(c["claimed"]),
                    approved=Decimal(c["approved"]),
                    history=c["history"],
                    missing=c.get("missing", []),
                    reason=c.get("reason"),
                )
        customer["tags"] = _tags(customer, policies)
        self.rows["customers"].append(customer)
        numbers = ", ".join(f"{p['number']} ({p['product_name']})" for p, _ in policies)
        self.demo.append(
            f"demo customer {customer['id']}: {customer['name']}, ID {customer['id_card_number']}, "
            f"mobile {customer['mobile']}, policies {numbers}"
        )

    def batch(self, first_cid: int, count: int) -> dict[str, list[dict[str, Any]]]:
        self.rows = {t.name: [] for t in TABLES}
        for cid in range(first_cid, first_cid + count):
            if cid in DEMO_CUSTOMERS:
                self.fixed_customer(DEMO_CUSTOMERS[cid])
            else:
                self.random_customer(cid)
        return self.rows


def _bank_account(cid: int, last4: str) -> str:
    """A 16-digit debit card number ending in the digits the claim notes quote."""
    return f"6222{(cid * 7919 + 1301) % 10**8:08d}{last4}"


def _tags(customer: dict[str, Any], policies: list[tuple[dict[str, Any], list]]) -> list[str]:
    active = [p for p, _ in policies if p["status"] == PolicyStatus.ACTIVE]
    tags = []
    if any(p["kind"] == PolicyKind.LONG_TERM_MEDICAL for p in active):
        tags.append("long_term_medical_holder")
    if not customer["has_social_insurance"]:
        tags.append("no_social_insurance")
    if customer["city_tier"] >= 3:
        tags.append("tier3_below")
    if any(len(members) > 1 for p, members in policies if p in active):
        tags.append("family_cover")
    if len(active) >= 3 or sum(p["premium"] for p in active) >= 6_000:
        tags.append("vip")
    return tags
