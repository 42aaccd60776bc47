"""What the bot understood, read from a Rasa that answers over HTTP as Rasa 3.6 does:
after a fallback Rasa has reverted the customer's message, so its tracker's latest
message is the one before, and the message is parsed on its own instead."""

from __future__ import annotations

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from desk.rasa import RasaClient

GREET = {
    "text": "你好",
    "intent": {"name": "greet", "confidence": 0.98},
    "intent_ranking": [{"name": "greet", "confidence": 0.98}],
}
FELL_BACK = {
    "text": "我要退保",
    "intent": {"name": "nlu_fallback", "confidence": 0.45},
    "intent_ranking": [
        {"name": "nlu_fallback", "confidence": 0.45},
        {"name": "faq", "confidence": 0.25},
        {"name": "file_claim", "confidence": 0.22},
    ],
}


async def rasa_with(latest: dict) -> tuple[TestServer, list[str]]:
    calls: list[str] = []

    async def tracker(request: web.Request) -> web.Response:
        calls.append("tracker")
        return web.json_response({"latest_message": latest, "slots": {"requested_slot": None}})

    async def parse(request: web.Request) -> web.Response:
        calls.append("parse:" + (await request.json())["text"])
        return web.json_response(FELL_BACK)

    app = web.Application()
    app.router.add_get("/conversations/{sender}/tracker", tracker)
    app.router.add_post("/model/parse", parse)
    server = TestServer(app)
    await server.start_server()
    return server, calls


async def understood(latest: dict, text: str):
    server, calls = await rasa_with(latest)
    async with aiohttp.ClientSession() as http:
        client = RasaClient(http, str(server.make_url("")), "http://127.0.0.1:9", 5, "token")
        parse = await client.latest_parse("someone", text)
    await server.close()
    return parse, calls


async def test_the_message_the_tracker_ends_with_is_read_from_the_tracker():
    parse, calls = await understood(GREET, "你好")
    assert calls == ["tracker"]
    assert (parse.intent, parse.fallback, parse.for_agents()) == (
        "greet",
        False,
        {"intent": "greet", "confidence": 0.98},
    )


async def test_a_message_the_fallback_reverted_is_parsed_on_its_own():
    parse, calls = await understood(GREET, "我要退保")
    assert calls == ["tracker", "parse:我要退保"]
    assert (parse.intent, parse.confidence, parse.runner_up, parse.fallback) == (
        "faq",
        0.25,
        "file_claim",
        True,
    )
    assert parse.for_agents() == {"intent": "nlu_fallback", "confidence": 0.45}
