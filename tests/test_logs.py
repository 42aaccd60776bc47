"""What the logs of the real stack hold: a whole conversation with a verification
(an ID card number, a mobile number, a one-time code) and a refusal, then every
process's log read for the customer's personal data and their web session id (the
customer's bearer credential). Logs name sessions and identities by a short keyed
hash (`desk.pseudonyms.pseudonym`), and personal data never."""

from __future__ import annotations

import re

import pytest

from tests.test_end_to_end import PROMPTS, answer, store_rows
from web.stack import Customer, Stack

pytestmark = pytest.mark.stack


async def test_the_logs_hold_no_personal_data_and_no_session_id(stack: Stack):
    [(id_card_number, mobile)] = store_rows(
        stack, "SELECT id_card_number, mobile FROM customers WHERE id=1"
    )
    identify, enter_code, verified = PROMPTS["zh"]
    customer = Customer(stack.base_url)
    session_id = await customer.connect()
    # refusals named the session in the log
    refused = await customer.say("保" * 2001)
    assert refused["error"]["code"] == "too_long"

    await answer(customer, "请给我回个电话", identify)
    await answer(customer, f"我的身份证号是 {id_card_number}", enter_code)
    [(sms,)] = store_rows(
        stack, "SELECT text FROM sms_outbox WHERE mobile=? ORDER BY id DESC LIMIT 1", mobile
    )
    code = re.search(r"\d{6}", sms).group()
    await customer.say(f"验证码 {code}")
    asked = await customer.until(lambda m: "什么时间方便接听" in m.get("text", ""))
    assert any(verified in m.get("text", "") for m in asked)
    window = asked[-1]["quick_replies"][1]["payload"]
    await answer(customer, window, "预留的手机")
    # the number on file, typed out in full
    await answer(customer, mobile, "电话回访")
    refused = await customer.say("保" * 2001)
    assert refused["error"]["code"] == "too_long"
    await customer.disconnect()

    logs = sorted(stack.workdir.glob("*.log"))
    assert {path.name for path in logs} >= {"web.log", "rasa.log", "actions.log"}
    for path in logs:
        text = path.read_text(errors="replace")
        for secret in (id_card_number, mobile, code, session_id):
            assert secret not in text, f"{path.name} holds {secret}"
    # the refusals are logged, the session named by its pseudonym
    web_log = (stack.workdir / "web.log").read_text(errors="replace")
    assert re.search(r"web chat message of session #[0-9a-f]{10} refused \(too_long\)", web_log)
