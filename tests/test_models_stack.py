"""The trainer's models for real: a fine-tune of the bot's model by `rasa train` on a
copy of the project, scored with Rasa's own parser (`scripts/rasa_parse.py`); and a
deploy on the running stack while customers are mid-conversation (one in the middle
of the claim form), every turn sent during the swap answered exactly once and the
form carried on, then a rollback. The stack is shared by every stack test: the
deploy test puts the original model back whatever happens."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sqlite3
import time
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest
from ruamel.yaml.scalarstring import LiteralScalarString

from desk.training import evaluation
from desk.training.evaluation import nlu_examples
from desk.training.jobs import JobStart, TrainingJobs
from desk.training.project import YamlFile, dump, write_atomic
from desk.training.registry import ModelRegistry, file_sha256
from store.db import create_engine, session_factory
from store.models import Agent
from store.workbench import BotModel
from tests.desk.training_project import REPOSITORY, copy_project
from tests.test_end_to_end import answer, button, conversation_id, store_rows, verify
from web.stack import MODEL, RASA_TOKEN, AgentApi, Customer, Stack

pytestmark = pytest.mark.stack

# A fine-tune costs little CPU here: a twentieth of the configured epochs (DIET's 30
# become 2). The console's default is 0.2 (FINETUNE_EPOCH_FRACTION).
EPOCH_FRACTION = 0.05
TRAINING_DEADLINE = 900
# Examples kept per intent in the copy it fine-tunes on: fewer to featurise, the same
# intents (a fine-tune must keep the model's labels).
EXAMPLES_PER_INTENT = 12


def trim_examples(root: Path) -> None:
    for path in sorted((root / "bot" / "data").rglob("*.yml")):
        loaded = YamlFile.load(path)
        entries = [
            entry
            for entry in (loaded.document or {}).get("nlu") or []
            if "intent" in entry and isinstance(entry.get("examples"), str)
        ]
        for entry in entries:
            lines = entry["examples"].splitlines(keepends=True)[:EXAMPLES_PER_INTENT]
            entry["examples"] = LiteralScalarString("".join(lines))
        if entries:
            write_atomic(path, dump(loaded.document))


class CandidateOnly(TrainingJobs):
    """The real job, scoring the candidate alone: loading a model costs Rasa about 30 s,
    and the comparison with production on the same texts is tested in
    tests/desk/test_training_evaluation.py with the parses given."""

    async def evaluate(self, model: BotModel) -> dict:
        metrics = await evaluation.evaluate(
            self.sessions, self.project, self.registry.path_of(model), None, None
        )
        await self.registry.record_metrics(model.id, metrics)
        return metrics


@pytest.mark.training
async def test_a_fine_tune_of_the_real_model_is_registered_and_scored(sqlite_url, tmp_path):
    project = copy_project(tmp_path / "project")
    trim_examples(project.root)
    # Three held-out utterances per intent: the parsing stays short, both models
    # loaded for real.
    by_intent: dict[str, list[str]] = {}
    for intent, text in nlu_examples(REPOSITORY / "bot" / "tests" / "nlu_holdout.yml"):
        by_intent.setdefault(intent, []).append(text)
    (project.root / "bot" / "tests").mkdir()
    (project.root / "bot" / "tests" / "nlu_holdout.yml").write_text(
        dump(
            {
                "nlu": [
                    {
                        "intent": i,
                        "examples": LiteralScalarString("".join(f"- {t}\n" for t in texts[:3])),
                    }
                    for i, texts in by_intent.items()
                ]
            }
        ),
        encoding="utf-8",
    )
    held_out = sum(min(len(texts), 3) for texts in by_intent.values())
    engine = create_engine(sqlite_url)
    sessions = session_factory(engine)
    try:
        registry = ModelRegistry(sessions, tmp_path / "registry")
        baseline = await registry.adopt_baseline(MODEL, project)
        assert baseline is not None and baseline.rasa_model_id
        pushed: list[dict] = []

        async def changed(view: dict) -> None:
            pushed.append(view)

        jobs = CandidateOnly(sessions, registry, project, EPOCH_FRACTION, changed=changed)
        async with sessions.begin() as session:
            trainer = Agent(
                username="finetuner", display_name="T", password_hash="x", role="trainer"
            )
            session.add(trainer)
        started = time.monotonic()
        job = await jobs.start(trainer, JobStart(kind="finetune"))
        await asyncio.wait_for(jobs.wait(), TRAINING_DEADLINE)
        done = await jobs.get(job.id)
        assert done.status == "succeeded", (done.error, done.log[-3000:])
        seconds = time.monotonic() - started
        model = await registry.get(done.model_id)
        assert (model.kind, model.production, model.base_model_id) == (
            "finetune",
            None,
            baseline.id,
        )
        assert model.rasa_model_id and model.rasa_model_id != baseline.rasa_model_id
        assert file_sha256(registry.path_of(model)) == model.sha256
        # the progress came live, component by component, epoch by epoch
        components = {v["progress"].get("component") for v in pushed}
        assert {"DIETClassifier", "ResponseSelector", "TEDPolicy"} <= components
        # (pushed at most once a second: two epochs on a few examples may fit in one)
        assert re.search(r"Epochs: 100%.*\| 2/2 ", done.log)
        # scored with Rasa's own parser on the held-out utterances, both languages
        metrics = model.metrics
        assert metrics["sets"] == {"holdout": held_out, "reviewed": 0}
        candidate = metrics["candidate"]["overall"]
        assert candidate["all"]["count"] == held_out
        assert candidate["zh"]["count"] + candidate["en"]["count"] == held_out
        # two epochs from the production weights keep it about as good (97.5 % held out)
        assert candidate["all"]["accuracy"] > 0.85
        assert candidate["all"]["intents"]["ask_claim_status"]["support"] == 3
        print(
            f"\nfine-tune at {EPOCH_FRACTION} of the epochs on {EXAMPLES_PER_INTENT} examples "
            f"an intent, then scored: {seconds:.0f} s (scoring {metrics['seconds']} s); "
            f"held-out accuracy {candidate['all']['accuracy']:.3f}"
        )
    finally:
        await engine.dispose()


# ---- the swap on the running stack ------------------------------------------------------


async def rasa_status(http: aiohttp.ClientSession, stack: Stack) -> dict:
    async with http.get(f"{stack.rasa_url}/status", params={"token": RASA_TOKEN}) as response:
        return await response.json()


def register_copy(stack: Stack, baseline_file: str) -> int:
    """Another registry entry for the model Rasa runs (a copy under a new name, with a
    passing evaluation): deploying it is a real swap, whatever model it holds."""
    registry = stack.workdir / "models"
    name = f"finetune-swaptest-{int(time.time() * 1000)}.tar.gz"
    shutil.copyfile(registry / baseline_file, registry / name)
    [(sha, model_id)] = store_rows(
        stack, "SELECT sha256, rasa_model_id FROM bot_models WHERE file=?", baseline_file
    )
    path = stack.database_url.split("///", 1)[1]
    with sqlite3.connect(path) as db:
        cursor = db.execute(
            "INSERT INTO bot_models (file, sha256, rasa_model_id, kind, data_hash, metrics) "
            "VALUES (?, ?, ?, 'finetune', 'swap-test', ?)",
            (name, sha, model_id, json.dumps({"gate": {"passed": True, "reasons": []}})),
        )
        return int(cursor.lastrowid or 0)


def naive(stored: str) -> datetime:
    """A time as SQLite keeps it (with or without fractions and zone), in UTC."""
    return datetime.fromisoformat(stored).replace(tzinfo=None)


def bot_replies_after(stack: Stack, session_id: str, text: str) -> list[str]:
    """The bot's and the system's messages between the customer's `text` and their
    next message."""
    conversation = conversation_id(stack, session_id)
    rows = store_rows(
        stack,
        "SELECT seq, sender, text FROM messages WHERE conversation_id=? ORDER BY seq",
        conversation,
    )
    [start] = [seq for seq, sender, said in rows if sender == "customer" and said == text]
    replies = []
    for seq, sender, said in rows:
        if seq <= start:
            continue
        if sender == "customer":
            break
        replies.append(f"{sender}: {said}")
    return replies


async def test_a_deploy_mid_conversation_loses_no_turn_and_the_form_carries_on(stack: Stack):
    started = time.monotonic()
    async with aiohttp.ClientSession() as http:
        trainer = AgentApi(http, stack.base_url)
        await trainer.login("trainer1", stack.password)
        status, listed = await trainer.request("GET", "/api/v1/training/models")
        assert status == 200
        [baseline] = [m for m in listed["models"] if m["production"]]
        baseline_id = baseline["id"]
        try:
            await swap_mid_conversation(stack, http, trainer, baseline)
        finally:
            status, listed = await trainer.request("GET", "/api/v1/training/models")
            [current] = [m for m in listed["models"] if m["production"]]
            if current["id"] != baseline_id:
                status, body = await trainer.request(
                    "POST", f"/api/v1/training/models/{baseline_id}/rollback"
                )
                assert status == 200, body
        assert (await rasa_status(http, stack))["model_id"] == baseline["rasa_model_id"]
    print(f"\ndeploy and rollback mid-conversation: {time.monotonic() - started:.0f} s")


async def swap_mid_conversation(
    stack: Stack, http: aiohttp.ClientSession, trainer: AgentApi, baseline: dict
) -> None:
    # Three customers: one filing a claim (verified, at the form's date question),
    # one just arrived, one about to ask for their claims.
    [(policy, holder_name)] = store_rows(
        stack,
        "SELECT p.number, c.name FROM policies p JOIN customers c ON c.id=p.holder_id "
        "WHERE p.holder_id=1 AND p.kind='long_term_medical'",
    )
    filer, greeter, asker = (
        Customer(stack.base_url),
        Customer(stack.base_url),
        Customer(stack.base_url),
    )
    filer_session = await filer.connect()
    greeter_session = await greeter.connect()
    asker_session = await asker.connect()
    await verify(stack, filer, "I want to file a claim", lang="en")
    asked = await filer.until(lambda m: "Which policy" in m.get("text", ""))
    asked = await answer(filer, button(asked, policy), "Who is the claim for")
    asked = await answer(filer, button(asked, holder_name), "What kind of claim")
    await answer(filer, button(asked, "hospitalisation"), "When did it happen")

    model_id = register_copy(stack, baseline["file"])
    serving = (await rasa_status(http, stack))["model_file"]
    swap_started = time.monotonic()
    deploying = asyncio.create_task(
        trainer.request("POST", f"/api/v1/training/models/{model_id}/deploy")
    )
    # Rasa is loading the model (its API stops answering while it does); every turn
    # below is sent now, during the swap, and the store shows they were.
    deadline = asyncio.get_running_loop().time() + 30
    while not deploying.done():
        try:
            async with http.get(
                f"{stack.rasa_url}/status",
                params={"token": RASA_TOKEN},
                timeout=aiohttp.ClientTimeout(total=0.5),
            ) as response:
                if (await response.json())["model_file"] != serving:
                    break
        except (TimeoutError, aiohttp.ClientError):
            break  # busy loading
        assert asyncio.get_running_loop().time() < deadline, "the swap never started"
        await asyncio.sleep(0.1)
    sent = await asyncio.gather(
        filer.say("3 days ago", client_message_id="swap-filer"),
        greeter.say("hello", client_message_id="swap-greeter"),
        asker.say("我的理赔到哪了", client_message_id="swap-asker"),
    )
    assert all(ack["ok"] for ack in sent), sent
    status, deployed = await asyncio.wait_for(deploying, 300)
    assert status == 200, deployed
    swap_seconds = time.monotonic() - swap_started
    print(f"\nthe deploy (Rasa loading the model, turns held) took {swap_seconds:.0f} s")
    assert (await rasa_status(http, stack))["model_file"].startswith("finetune-swaptest-")
    [(deployed_at,)] = store_rows(
        stack, "SELECT at FROM model_deployments WHERE id=?", deployed["id"]
    )
    for session_id, text in (
        (filer_session, "3 days ago"),
        (greeter_session, "hello"),
        (asker_session, "我的理赔到哪了"),
    ):
        [(sent_at,)] = store_rows(
            stack,
            "SELECT created_at FROM messages WHERE conversation_id=? AND text=?",
            conversation_id(stack, session_id),
            text,
        )
        # stored (to the second) before the deploy was recorded: sent during the swap
        assert naive(sent_at) <= naive(deployed_at), (text, sent_at, deployed_at)

    # each turn answered, once, by the bot (no "bot unavailable", no handoff)
    await filer.until(lambda m: "Which hospital" in m.get("text", ""), timeout=60)
    await greeter.until(lambda m: m.get("sender") == "bot", timeout=60)
    await asker.until(lambda m: "保单号或身份证号" in m.get("text", ""), timeout=60)
    filer_replies = bot_replies_after(stack, filer_session, "3 days ago")
    assert len(filer_replies) == 1 and "Which hospital" in filer_replies[0], filer_replies
    greeter_replies = bot_replies_after(stack, greeter_session, "hello")
    assert greeter_replies and all(r.startswith("bot: ") for r in greeter_replies)
    assert len(set(greeter_replies)) == len(greeter_replies), greeter_replies
    asker_replies = bot_replies_after(stack, asker_session, "我的理赔到哪了")
    assert len(asker_replies) == 2 and "保单号或身份证号" in asker_replies[-1], asker_replies
    assert len(set(asker_replies)) == 2
    for session_id in (filer_session, greeter_session, asker_session):
        conversation = conversation_id(stack, session_id)
        assert store_rows(stack, "SELECT state FROM conversations WHERE id=?", conversation) == [
            ("bot",)
        ]
        assert not store_rows(
            stack,
            "SELECT kind FROM events WHERE conversation_id=? AND kind='handoff'",
            conversation,
        )
        # and each client message is stored once
        counts = store_rows(
            stack,
            "SELECT client_message_id, count(*) FROM messages WHERE conversation_id=? "
            "AND client_message_id LIKE 'swap-%' GROUP BY client_message_id",
            conversation,
        )
        assert [count for _, count in counts] == [1]

    # the form carries on where it was, on the new model
    await answer(filer, "Peking Union Medical College Hospital", "How much")
    asked = await answer(filer, "12,800.50 yuan", "bank card on file")
    filed = await answer(filer, button(asked, "Yes"), "Your claim is filed")
    assert re.search(r"C\d{13}", filed[-1]["text"])
    for customer in (filer, greeter, asker):
        await customer.disconnect()
