"""Leaving the queue for a callback, for real: a queued customer presses *改为预约回电*,
the conversation goes back to the real bot, which verifies them and asks when to call
(the real Rasa and action server); the queue figures count it as an abandon for a
callback."""

from __future__ import annotations

import pytest

from tests.test_end_to_end import (
    button,
    conversation_id,
    is_queue_message,
    store_rows,
    verify,
)
from web.stack import Customer, Stack

pytestmark = pytest.mark.stack


async def test_a_queued_customer_books_a_callback_instead_of_waiting(stack: Stack):
    stack.sign_in("supervisor1")  # someone on duty, so the handoff queues
    customer = Customer(stack.base_url)
    session_id = await customer.connect()
    await customer.say("我要转人工")
    queued = await customer.until(is_queue_message)
    instead = button(queued, "改为预约回电")
    # the button takes the customer out of the queue, to the bot's callback form
    await verify(stack, customer, instead)
    await customer.until(lambda m: "什么时间方便接听" in m.get("text", ""))
    conversation = conversation_id(stack, session_id)
    [(state,)] = store_rows(stack, "SELECT state FROM conversations WHERE id=?", conversation)
    [(how,)] = store_rows(
        stack,
        "SELECT json_extract(data, '$.how') FROM events WHERE kind='abandoned'"
        " AND conversation_id=?",
        conversation,
    )
    assert (state, how) == ("bot", "callback")
    await customer.disconnect()
