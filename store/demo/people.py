"""Drawing people: a customer's home (province, city, tier), name, ID card number,
mobile number and social insurance, and the relatives who may share their cover."""

from __future__ import annotations

from datetime import date
from typing import Any

from store.demo.dates import REFERENCE_DATE, born_years_ago
from store.demo.population import (
    GEOGRAPHY,
    GIVEN_NAMES,
    MOBILE_PREFIXES,
    SOCIAL_INSURANCE_SHARE,
    SURNAME_WEIGHTS,
    SURNAMES,
    TIER_WEIGHTS,
)
from store.demo.rows import RowBuilder, cum
from store.identifiers import id_card_check_digit


def _cities_by_tier() -> dict[int, tuple[list, list[float]]]:
    tiers: dict[int, list] = {}
    for province, cities in GEOGRAPHY.items():
        for city, tier, population, codes in cities:
            tiers.setdefault(tier, []).append((province, city, tier, population, codes))
    return {t: (rows, cum(r[3] for r in rows)) for t, rows in tiers.items()}


_TIERS = _cities_by_tier()
_TIER_KEYS = list(TIER_WEIGHTS)
_TIER_CUM = cum(TIER_WEIGHTS.values())
_SURNAME_CUM = cum(SURNAME_WEIGHTS)
_ALL_CITIES = [
    (province, city, codes)
    for province, cities in GEOGRAPHY.items()
    for city, _, _, codes in cities
]


class People(RowBuilder):
    """The generator's people: customers and their relatives."""

    def id_card(self, region: str, born: date, male: bool) -> str:
        rng = self.rng
        prefix = f"{region}{born:%Y%m%d}"
        while True:
            first17 = f"{prefix}{rng.randrange(500) * 2 + male:03d}"
            number = first17 + id_card_check_digit(first17)
            if number not in self.taken:
                self.taken.add(number)
                return number

    def surname(self) -> str:
        return self.rng.choices(SURNAMES, cum_weights=_SURNAME_CUM)[0]

    def name(self, born: date, male: bool, surname: str | None = None) -> str:
        rng = self.rng
        era = "old" if born.year < 1970 else "mid" if born.year < 2000 else "new"
        chars = GIVEN_NAMES[(era, "M" if male else "F")]
        surname = surname or self.surname()
        if rng.random() < (0.4 if era == "old" else 0.25):
            return surname + rng.choice(chars)
        return surname + rng.choice(chars) + rng.choice(chars)

    def customer(self, cid: int) -> tuple[dict[str, Any], str]:
        rng = self.rng
        tier = rng.choices(_TIER_KEYS, cum_weights=_TIER_CUM)[0]
        cities, cum = _TIERS[tier]
        province, city, tier, _, codes = rng.choices(cities, cum_weights=cum)[0]
        region = rng.choice(codes)
        if rng.random() < 0.15:  # born elsewhere, moved to the city
            region = rng.choice(rng.choice(_ALL_CITIES)[2])
        male = rng.random() < 0.5
        born = born_years_ago(rng.triangular(18.1, 75.9, 34))
        # An affine map is a bijection on 8 digits: each customer id its own number.
        mobile = rng.choice(MOBILE_PREFIXES) + f"{(cid * 73939133 + 20261101) % 10**8:08d}"
        row = {
            "id": cid,
            "name": self.name(born, male),
            "id_card_number": self.id_card(region, born, male),
            "mobile": mobile,
            "birth_date": born,
            "gender": "M" if male else "F",
            "province": province,
            "city": city,
            "city_tier": tier,
            "has_social_insurance": rng.random() < SOCIAL_INSURANCE_SHARE,
            "tags": [],
            "bank_account": None,  # drawn with the claims' card
            "created_at": None,  # set from the first policy
        }
        return row, region

    def family(self, customer: dict[str, Any], region: str) -> list[dict[str, Any]]:
        """Relatives who may be insured on the customer's policies."""
        rng = self.rng
        born, male = customer["birth_date"], customer["gender"] == "M"
        age = (REFERENCE_DATE - born).days / 365.25
        own_surname = customer["name"][0]
        relatives = []

        def add(relation: str, is_male: bool, years: float, surname: str | None) -> None:
            when = born_years_ago(years)
            relatives.append(
                {
                    "relation": relation,
                    "name": self.name(when, is_male, surname),
                    "id_card_number": self.id_card(region, when, is_male),
                    "birth_date": when,
                }
            )

        children_surname = own_surname
        if age >= 24 and rng.random() < 0.75:
            spouse_age = max(20.5, age + rng.uniform(-4, 4) + (-2 if male else 2))
            spouse_surname = self.surname()
            add("spouse", not male, spouse_age, spouse_surname)
            if not male:
                children_surname = spouse_surname
        if age >= 24:
            for _ in range(rng.choices((0, 1, 2), (35, 45, 20))[0]):
                child_age = age - rng.uniform(22, 36)
                if 0.3 <= child_age < 23:
                    add("child", rng.random() < 0.5, child_age, children_surname)
        if age <= 52 and rng.random() < 0.45:
            parent_age = age + rng.uniform(22, 32)
            if parent_age <= 78:
                father = rng.random() < 0.5
                add("parent", father, parent_age, own_surname if father else None)
        return relatives
