"""Reading request bodies: one error type, the field's own code, ids the store can hold."""

from __future__ import annotations

import pytest

from desk import inputs
from desk.errors import DeskError
from desk.people import AgentChanges, NewAgent


def refusal(model, data) -> tuple[str, int]:
    with pytest.raises(DeskError) as caught:
        inputs.read(model, data)
    return caught.value.code, caught.value.status


def test_a_bad_field_gets_its_own_code():
    assert refusal(inputs.Reply, {"text": "   "}) == ("malformed", 400)
    assert refusal(inputs.Reply, {"text": "x" * 4001}) == ("malformed", 400)
    assert refusal(inputs.PresenceChoice, {"presence": "asleep"}) == ("bad_presence", 400)
    assert refusal(NewAgent, {"username": "A B", "display_name": "x", "password": "p" * 8}) == (
        "bad_username",
        400,
    )
    assert refusal(AgentChanges, {"capacity": 21}) == ("bad_capacity", 400)
    assert refusal(AgentChanges, {"capacity": True}) == ("bad_capacity", 400)
    assert refusal(AgentChanges, {"active": "yes"}) == ("bad_active", 400)
    assert refusal(inputs.Reply, ["not", "an", "object"]) == ("malformed", 400)


def test_only_the_fields_sent_are_changes():
    changes = inputs.read(AgentChanges, {"capacity": "4", "unknown": 1})
    assert changes.capacity == 4 and changes.model_fields_set == {"capacity"}


def test_socket_and_json_ids_are_numbers_the_store_can_hold():
    assert inputs.read(inputs.ConversationRef, {"conversation_id": 7}).conversation_id == 7
    for bad in ("7", True, 0, -1, 2**31, 10**20, None):
        assert refusal(inputs.ConversationRef, {"conversation_id": bad}) == ("malformed", 400)
    assert inputs.read(inputs.Transfer, {"note": "n", "agent_id": 3}).agent_id == 3
    assert refusal(inputs.Transfer, {"note": "n", "agent_id": 2**31}) == ("malformed", 400)


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1e3", "2147483648", "99999999999999999999"])
def test_a_url_id_no_row_can_have_is_not_found(value):
    with pytest.raises(DeskError) as caught:
        inputs.path_id(value)
    assert (caught.value.code, caught.value.status) == ("not_found", 404)


def test_a_url_id_in_range_is_read():
    assert inputs.path_id("2147483647") == 2**31 - 1
