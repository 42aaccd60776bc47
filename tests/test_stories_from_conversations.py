"""A trainer turns a real conversation into a Rasa test story, on the real stack: the
story holds placeholders where the customer gave identifiers, and the real model passes
it with `rasa test core`, as `make test` runs every story under bot/tests."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import aiohttp
import pytest

from tests.test_end_to_end import answer, conversation_id, store_rows, verify
from web.stack import MODEL, RASA, ROOT, AgentApi, Customer, Stack

pytestmark = pytest.mark.stack

TRACKER_FIXTURE = Path(__file__).parent / "desk" / "tracker_claim_status.json"


def rasa_test_core(story_file: Path, out: Path) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="rasa-home-") as home:
        return subprocess.run(
            [
                str(RASA),
                "test",
                "core",
                "--model",
                str(MODEL),
                "--stories",
                str(story_file),
                "--fail-on-prediction-errors",
                "--out",
                str(out),
            ],
            cwd=ROOT,
            env={
                **os.environ,
                "HOME": home,
                "PYTHONPATH": str(ROOT),
                "TF_CPP_MIN_LOG_LEVEL": "2",
                "RASA_TELEMETRY_ENABLED": "false",
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=600,
        )


async def test_a_conversation_becomes_a_masked_test_story_the_model_passes(stack: Stack, tmp_path):
    customer = Customer(stack.base_url)
    session_id = await customer.connect()
    await answer(customer, "你好", "您好")
    await verify(stack, customer, "我的理赔到哪了")
    await customer.until(lambda m: m.get("text", "").startswith("理赔 C"))
    await answer(customer, "谢谢", "不客气")
    await customer.disconnect()
    conversation = conversation_id(stack, session_id)
    [(policy_number,)] = store_rows(
        stack, "SELECT number FROM policies WHERE holder_id=1 ORDER BY id LIMIT 1"
    )
    [(name, mobile)] = store_rows(stack, "SELECT name, mobile FROM customers WHERE id=1")
    [(sms,)] = store_rows(stack, "SELECT text FROM sms_outbox ORDER BY id DESC LIMIT 1")
    code = next(word for word in sms.replace("：", " ").split() if word.isdigit())

    async with aiohttp.ClientSession() as http:
        trainer = AgentApi(http, stack.base_url)
        await trainer.login("trainer1", stack.password)
        status, preview = await trainer.request(
            "GET", f"/api/v1/training/conversations/{conversation}/story"
        )
        assert status == 200, preview
        said = [(s.get("user"), s["intent"]) for s in preview["steps"] if "intent" in s]
        assert said == [
            ("你好", "greet"),
            ("我的理赔到哪了", "ask_claim_status"),
            ("<POLICY_NO>", "inform"),
            ("验证码 <CODE>", "inform"),
            ("谢谢", "thank"),
        ]
        actions = [s["action"] for s in preview["steps"] if "action" in s]
        assert actions[:3] == ["utter_greet", "action_claim_status", "verification_form"]
        for secret in (policy_number, code, mobile, name):
            assert secret not in preview["yaml"]
        assert preview["saved"] is False

        status, saved = await trainer.request(
            "POST", f"/api/v1/training/conversations/{conversation}/story"
        )
        assert status == 201, saved
        assert saved == {
            "name": f"conversation {conversation} (zh)",
            "file": "bot/tests/test_stories_conversations.yml",
            "replaced": False,
        }
        status, again = await trainer.request(
            "GET", f"/api/v1/training/conversations/{conversation}/story"
        )
        assert again["saved"] is True

    story_file = Path(stack.env["TRAINING_PROJECT_DIR"]) / saved["file"]
    assert preview["yaml"] in story_file.read_text(encoding="utf-8")
    finished = rasa_test_core(story_file, tmp_path / "results")
    assert finished.returncode == 0, finished.stdout[-3000:]

    # The unit tests' tracker (tests/desk) is this kind of conversation's, as Rasa recorded it.
    if os.environ.get("CAPTURE_TRACKER"):
        [(uid,)] = store_rows(stack, "SELECT uid FROM conversations WHERE id=?", conversation)
        async with aiohttp.ClientSession() as http:
            async with http.get(
                f"{stack.rasa_url}/conversations/{uid}/tracker",
                params={"token": "end-to-end-rasa-token"},
            ) as response:
                TRACKER_FIXTURE.write_text(
                    json.dumps((await response.json())["events"], ensure_ascii=False, indent=1)
                )
