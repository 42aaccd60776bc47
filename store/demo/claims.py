"""Drawing claims: the incident, the hospital, the amounts, and the way through the
stages (fast track, missing documents, investigation, approval or refusal, payment),
with recent claims still open as of the reference date."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from store.demo.dates import AS_OF, RECENT, REFERENCE_DATE, beijing_time
from store.demo.population import (
    CITY_HOSPITALS,
    MUNICIPAL_HOSPITALS,
    NATIONAL_HOSPITALS,
    PROVINCE_HOSPITALS,
)
from store.demo.products import (
    CLAIM_AMOUNTS,
    CLAIM_KINDS,
    HOSPITAL_LEVEL_WEIGHTS,
    MEDICAL,
    MISSING_DOCUMENTS,
    PRODUCT_BY_CODE,
    REJECTION_REASONS,
    SUBMISSION_CHANNEL_WEIGHTS,
    SUBMISSION_CHANNELS,
    WAITING_PERIOD_REASON,
)
from store.demo.rows import RowBuilder, cum
from store.models import ClaimKind, ClaimStage

# Days from the incident (or discharge, or diagnosis) to submitting the claim.
_SUBMISSION_DELAY = {
    ClaimKind.OUTPATIENT: (0, 10),
    ClaimKind.HOSPITALISATION: (3, 25),
    ClaimKind.CRITICAL_ILLNESS: (5, 40),
    ClaimKind.ACCIDENT: (1, 20),
}
_OPEN_STAGES = (
    ClaimStage.SUBMITTED,
    ClaimStage.DOCUMENTS_PENDING,
    ClaimStage.REVIEWING,
    ClaimStage.INVESTIGATING,
    ClaimStage.APPROVED,
)
_OPEN_STAGE_WEIGHTS = (12, 28, 40, 8, 12)
_CLAIM_KIND_CUM = {k: (kinds, cum(w)) for k, (kinds, w) in CLAIM_KINDS.items()}


def _money(yuan: float) -> Decimal:
    return Decimal(round(yuan * 100)).scaleb(-2)


def _index(steps: list[tuple[ClaimStage, float, str | None]], stage: ClaimStage) -> int:
    return next(i for i, step in enumerate(steps) if step[0] == stage)


class Claims(RowBuilder):
    """The generator's claims, each with its stage history."""

    def claim(
        self,
        customer: dict[str, Any],
        policy: dict[str, Any],
        covered_to: date,
        member: dict[str, Any],
        card: str,
    ) -> None:
        """One claim with its stage history, or nothing when the policy never covered a day
        before the reference date."""
        rng = self.rng
        first = policy["effective_date"]
        last = min(covered_to, REFERENCE_DATE - timedelta(days=1))
        if last < first:
            return
        product = PRODUCT_BY_CODE[policy["product_code"]]
        kinds, cum = _CLAIM_KIND_CUM[policy["kind"]]
        kind = kinds[0] if len(kinds) == 1 else rng.choices(kinds, cum_weights=cum)[0]
        span = (last - first).days + 1
        if last >= REFERENCE_DATE - timedelta(days=8) and rng.random() < 0.08:
            # Recent: customers call about these.
            incident = REFERENCE_DATE - timedelta(days=rng.randrange(1, 12))
            incident = max(first, min(last, incident))
        else:
            incident = first + timedelta(days=rng.randrange(span))
            waiting_days = product["waiting_days"]
            if (incident - first).days < waiting_days < span and rng.random() < 0.85:
                # Few claims fall in the waiting period: people know they would be refused.
                incident = first + timedelta(days=rng.randrange(waiting_days, span))
        delay = rng.randrange(*_SUBMISSION_DELAY[kind])
        submitted_day = min(incident + timedelta(days=delay), REFERENCE_DATE - timedelta(days=1))
        minute = rng.randrange(7 * 60, 23 * 60)
        submitted = beijing_time(submitted_day, minute // 60, minute % 60) + timedelta(
            seconds=rng.randrange(60)
        )

        # Amounts.
        sum_insured = policy["sum_insured"]
        if kind == ClaimKind.CRITICAL_ILLNESS:
            claimed = sum_insured
        else:
            median, spread, low, high = CLAIM_AMOUNTS[kind]
            yuan = median * math.exp(rng.gauss(0, spread))
            claimed = _money(min(max(yuan, low), high, float(sum_insured)))
        if kind == ClaimKind.CRITICAL_ILLNESS:
            approved = claimed
        elif kind in MEDICAL and not customer["has_social_insurance"]:
            approved = _money(float(claimed) * 0.6 * rng.uniform(0.9, 1.0))
        else:
            approved = _money(float(claimed) * rng.uniform(0.85, 1.0))

        # The outcome and the way there.
        waiting = (incident - first).days < product["waiting_days"]
        rejected = (waiting and rng.random() < 0.85) or rng.random() < 0.04
        needs_documents = rng.random() < 0.14
        investigate = rng.random() < (
            0.12
            if kind == ClaimKind.CRITICAL_ILLNESS
            else 0.06
            if kind == ClaimKind.HOSPITALISATION and claimed > 50_000
            else 0.015
        )
        age_days = (AS_OF - submitted).total_seconds() / 86400
        target = None
        if age_days <= RECENT.days and rng.random() >= min(0.8, 0.075 * age_days):
            # Still open: stop at an early stage.
            target = rng.choices(_OPEN_STAGES, _OPEN_STAGE_WEIGHTS)[0]
            if target == ClaimStage.DOCUMENTS_PENDING:
                needs_documents = True
            elif target == ClaimStage.INVESTIGATING:
                investigate = True
            elif target == ClaimStage.APPROVED:
                rejected = False
        fast = (
            kind in MEDICAL
            and not (needs_documents or investigate or rejected)
            and claimed < 20_000
            and rng.random() < 0.33
        )
        missing = (
            rng.sample(MISSING_DOCUMENTS[kind], rng.choice((1, 1, 2))) if needs_documents else []
        )
        reason = (
            (WAITING_PERIOD_REASON if waiting else rng.choice(REJECTION_REASONS[kind]))
            if rejected
            else None
        )

        uniform, expo = rng.uniform, rng.expovariate
        steps: list[tuple[ClaimStage, float, str | None]] = []  # (stage, minutes after, note)
        if fast:
            steps += [
                (ClaimStage.REVIEWING, uniform(1, 5), "快速理赔 / Fast-track claim"),
                (ClaimStage.APPROVED, uniform(2, 20), None),
                (ClaimStage.PAID, uniform(1, 15), None),
            ]
        else:
            if needs_documents:
                note = "需补充材料 / Documents needed: " + "; ".join(missing)
                steps.append((ClaimStage.DOCUMENTS_PENDING, uniform(30, 480), note))
                steps.append(
                    (ClaimStage.REVIEWING, 120 + expo(1 / 2160), "材料已补齐 / Documents received")
                )
            else:
                steps.append((ClaimStage.REVIEWING, uniform(5, 180), None))
            if investigate:
                note = "需进一步调查核实 / Further investigation needed"
                steps.append((ClaimStage.INVESTIGATING, uniform(60, 1440), note))
                decision_after = uniform(3, 15) * 1440
            elif kind == ClaimKind.CRITICAL_ILLNESS:
                decision_after = 60 + expo(1 / 2880)
            else:
                decision_after = 30 + expo(1 / 1400)
            if rejected:
                steps.append((ClaimStage.REJECTED, decision_after, reason))
            else:
                steps.append((ClaimStage.APPROVED, decision_after, None))
                steps.append((ClaimStage.PAID, uniform(20, 360), None))
        if target is not None:
            steps = [] if target == ClaimStage.SUBMITTED else steps[: _index(steps, target) + 1]
            total = sum(minutes for _, minutes, _ in steps)
            window = (AS_OF - submitted).total_seconds() / 60 * 0.9
            if total > window:
                steps = [(s, m * window / total, n) for s, m, n in steps]

        channel = rng.choices(SUBMISSION_CHANNELS, SUBMISSION_CHANNEL_WEIGHTS)[0]
        history: list[tuple[ClaimStage, datetime, str | None]] = [
            (ClaimStage.SUBMITTED, submitted, channel)
        ]
        at = submitted
        for stage, minutes, step_note in steps:
            at += timedelta(seconds=max(30, int(minutes * 60)))
            if at >= AS_OF:
                break  # not yet
            if stage == ClaimStage.APPROVED:
                step_note = f"核定赔付 {approved} 元 / Approved: CNY {approved}"
            elif stage == ClaimStage.PAID:
                step_note = f"已转账至尾号 {card} 的银行卡 / Paid to the bank card ending {card}"
            history.append((stage, at, step_note))
        self.add_claim(
            policy=policy,
            member=member,
            kind=kind,
            incident=incident,
            hospital=self.hospital(customer, kind),
            claimed=claimed,
            approved=approved,
            history=history,
            missing=missing,
            reason=reason,
        )

    def hospital(self, customer: dict[str, Any], kind: ClaimKind) -> str:
        rng = self.rng
        level = rng.choices((0, 1, 2), HOSPITAL_LEVEL_WEIGHTS[kind])[0]
        if level == 2:
            return rng.choice(NATIONAL_HOSPITALS)
        if level == 1:
            return rng.choice(PROVINCE_HOSPITALS[customer["province"]])
        city = customer["city"]
        if city in MUNICIPAL_HOSPITALS:
            return rng.choice(MUNICIPAL_HOSPITALS[city])
        return rng.choice(CITY_HOSPITALS).format(city)
