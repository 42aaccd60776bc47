"""Service analytics: what each metric means and the queries that compute it from
the append-only events (see docs/metrics.md), for supervisors and admins."""
