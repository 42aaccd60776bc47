"""Deterministic demo data modelled on the seed insurer (PICC Health, China).

Customers in all 31 mainland provinces (about 73 % in third-tier cities or
below, about 35 % without social insurance), their families, long-term and
one-year medical, critical illness and accident policies, and claims with
their stage histories, all as of `REFERENCE_DATE`; then the last 90 days of the
service (`--history-days`, 0 for none), ending when it runs:

    python -m store.demo --customers 2000 [--seed 7] --database-url URL [--if-empty]
    python -m web.demo --customers 2000 [--seed 7] [--if-empty]   (the settings' store)

The same seed and size always give the same rows (the history: and the same
end). Customers 1 and 2 (张伟 and
李娜) are fixed demo customers, the same on every machine. Running it again
appends: the ids continue from the largest ones in the store (the history is
written only into a store without conversations).

The parts: `dates` (the reference date), `population`, `products` and
`fixed_customers` (pure data), `rows`, `people`, `policies`, `claims` and
`generator` (drawing the rows), `writer` (`generate()` and the command line);
the history's `history_texts` (pure data), `history` and `history_casework`
(drawing it) and `history_writer` (reading what it needs, writing it in bulk).
"""

from __future__ import annotations

from store.demo.dates import AS_OF, CST, RECENT, REFERENCE_DATE, add_years
from store.demo.fixed_customers import DEMO_CUSTOMERS
from store.demo.population import GEOGRAPHY
from store.demo.products import PRODUCT_BY_CODE, PRODUCTS
from store.demo.rows import MODELS, TABLES
from store.demo.writer import generate, main

__all__ = [
    "AS_OF",
    "CST",
    "DEMO_CUSTOMERS",
    "GEOGRAPHY",
    "MODELS",
    "PRODUCTS",
    "PRODUCT_BY_CODE",
    "RECENT",
    "REFERENCE_DATE",
    "TABLES",
    "add_years",
    "generate",
    "main",
]
