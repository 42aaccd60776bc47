"""Casework around conversations: customer 360, callbacks, follow-ups and complaints.

Who may see what (the console's contract):
- supervisors and admins see and act on everything; trainers see no customer data;
- an agent works on what is theirs (assigned to them) or waiting in their team's pool
  (a conversation queued for their team, an unassigned callback or follow-up of their
  team, an unowned complaint when they are on the complaints team). Those items are what
  let them see a customer's personal data and 360; elsewhere names and numbers are masked.

Every function takes the caller's session (the caller commits) and the acting agent;
one that carries out a request takes its body as its model, read the way the routes
read theirs (`read(NewCallback, data)`, which refuses a bad value as a `DeskError`). A
refusal raises `CaseworkError`, which the HTTP API turns into a JSON error. Times are
stored in UTC; input without an offset is read in the service time zone.

The parts: `access` (who sees what), `bodies` (what each request may carry, as the
models the API and the pages read), `inputs` (what a read body becomes: times in the
zone, assignees; what a change writes down), `views` (what the console shows of a row),
`customer360`, `callbacks`, `follow_ups`, `complaints`, and `errors`. Callers use the
names re-exported here.
"""

from __future__ import annotations

from desk.casework.access import COMPLAINTS_TEAM, Viewer, may_see_customer, viewer_for
from desk.casework.bodies import (
    MAX_TEXT,
    MAX_TITLE,
    OUTCOMES,
    PHONE,
    CallAttempt,
    ComplaintChanges,
    FollowUpChanges,
    NewCallback,
    NewFollowUp,
)
from desk.casework.callbacks import (
    CALLBACK_SCOPES,
    REMIND_AHEAD,
    due_callbacks,
    list_callbacks,
    log_attempt,
    schedule_callback,
)
from desk.casework.complaints import list_complaints, update_complaint
from desk.casework.customer360 import customer_360
from desk.casework.errors import CaseworkError
from desk.casework.follow_ups import (
    FOLLOW_UP_SCOPES,
    create_follow_up,
    list_follow_ups,
    update_follow_up,
)
from desk.casework.inputs import ACTIVE, SERVICE_ZONE, STATUS_FILTERS, assignable_agents, in_zone
from desk.casework.views import LIST_LIMIT, callback_view, callback_views

# The module had the clock's `aware` in its namespace, and callers read stored times
# through it (`casework.aware(...)`).
from desk.clock import aware

__all__ = [
    "ACTIVE",
    "CALLBACK_SCOPES",
    "COMPLAINTS_TEAM",
    "FOLLOW_UP_SCOPES",
    "LIST_LIMIT",
    "MAX_TEXT",
    "MAX_TITLE",
    "OUTCOMES",
    "PHONE",
    "REMIND_AHEAD",
    "SERVICE_ZONE",
    "STATUS_FILTERS",
    "CallAttempt",
    "CaseworkError",
    "ComplaintChanges",
    "FollowUpChanges",
    "NewCallback",
    "NewFollowUp",
    "Viewer",
    "assignable_agents",
    "aware",
    "callback_view",
    "callback_views",
    "create_follow_up",
    "customer_360",
    "due_callbacks",
    "list_callbacks",
    "list_complaints",
    "list_follow_ups",
    "log_attempt",
    "may_see_customer",
    "in_zone",
    "schedule_callback",
    "update_complaint",
    "update_follow_up",
    "viewer_for",
]
