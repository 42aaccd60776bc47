"""The review inbox fed by the real bot: a socket.io customer talks to the real Rasa
server (with its HTTP API on, as `make run` has it) and each message is kept for
the trainers as Rasa's own tracker says it understood it, masked."""

from __future__ import annotations

import pytest

from tests.test_end_to_end import conversation_id, store_rows, until_stored
from web.stack import Customer, Stack

pytestmark = pytest.mark.stack


async def test_the_real_bots_understanding_is_kept_masked_for_the_trainers(stack: Stack):
    customer = Customer(stack.base_url)
    session_id = await customer.connect()
    try:
        for text in ("等待期是多久", "我的身份证号是110105198604120353"):
            await customer.say(text)
            await customer.until(lambda m: m.get("sender") == "bot")
        conversation = conversation_id(stack, session_id)
        sql = (
            "SELECT seq, text, intent, confidence, runner_up, faq_topic, rank"
            " FROM parsed_messages WHERE conversation_id=? ORDER BY seq"
        )
        # The second row is written with the second answer.
        await until_stored(stack, sql + " LIMIT 1 OFFSET 1", conversation)
        rows = store_rows(stack, sql, conversation)
    finally:
        await customer.disconnect()
    (faq_seq, faq_text, faq, faq_confidence, faq_runner_up, topic, _), id_row = rows
    assert (faq_seq, faq_text, faq, topic) == (1, "等待期是多久", "faq", "faq/waiting_period")
    assert 0 < faq_confidence <= 1 and faq_runner_up not in (None, "faq", "nlu_fallback")
    assert id_row[1] == "我的身份证号是<ID_CARD>"
    assert id_row[2] not in ("", "nlu_fallback") and id_row[6] in (0, 1, 2, 9)


async def test_a_message_the_bot_fell_back_on_is_kept_as_its_own_not_as_the_one_before(
    stack: Stack,
):
    """Rasa's fallback reverts the customer's message, so its tracker then ends with
    the message before; the inbox must still hold this one, first in line."""
    customer = Customer(stack.base_url)
    session_id = await customer.connect()
    try:
        # "我要退保" (surrender the policy) has no intent of its own: the bot falls back.
        for text in ("你好", "我要退保"):
            await customer.say(text)
            await customer.until(lambda m: m.get("sender") == "bot")
        conversation = conversation_id(stack, session_id)
        sql = (
            "SELECT seq, text, intent, fallback, rank FROM parsed_messages"
            " WHERE conversation_id=? ORDER BY seq"
        )
        await until_stored(stack, sql + " LIMIT 1 OFFSET 1", conversation)
        rows = store_rows(stack, sql, conversation)
    finally:
        await customer.disconnect()
    greeting, fell_back = rows
    assert greeting[1:] == ("你好", "greet", 0, 9)
    assert fell_back[1] == "我要退保" and fell_back[3:] == (1, 0)
    assert fell_back[2] not in ("greet", "nlu_fallback")
