"""`python -m web.demo`: deterministic demo data in the store the settings name."""

from __future__ import annotations

from desk.settings import get_settings
from store.demo import main

if __name__ == "__main__":
    main(default_url=get_settings().database_url)
