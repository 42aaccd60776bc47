"""The store: the insurer's records and the service desk's own, in SQLAlchemy models.
Importing it registers every table on `Base.metadata` (migrations compare against it)."""

from store import models, presence, rollups, workbench, wrap_ups  # noqa: F401
