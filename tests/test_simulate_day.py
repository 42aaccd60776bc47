"""A small simulated day through the real stack (`bench/simulate_day.py`): the
dashboard's figures equal the simulator's ground truth. Counts and ratios exactly;
waits and handle times exactly as recomputed from the server's stored times of the
simulator's own conversations, and each within the simulator's own watch of it (see
`bench/day_truth.py` for why both)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from bench.day_plan import Shape, Targets, plan_day
from bench.day_truth import stored_times
from bench.simulate_day import dashboard, simulate, stack_settings, warm_up
from store.db import migrate
from web.stack import Stack

pytestmark = pytest.mark.stack

# 30 contacts in 30 seconds, three agents: enough of every kind of contact to move
# each figure (answered in time and late, short and long abandons, no-response
# closes, ratings, customers coming back on the same and on another topic).
SMALL_DAY = Shape(
    contacts=30,
    english_share={"app": 0.3, "wechat": 0.3, "web": 0.3, "telegram": 0.7},
    handoff_share=0.5,
    late_share=0.3,
    abandon_share=0.3,
    short_abandon_share=0.5,
    no_response_share=0.2,
    rating_share=0.7,
    return_share=0.5,
    same_topic_share=0.5,
)
PLAN = plan_day(1.0, seed=7, minutes=0.5, shape=SMALL_DAY, targets=Targets(8.0, 4.0), agents=3)


@pytest.fixture(scope="module")
def day_stack(tmp_path_factory) -> Iterator[Stack]:
    """A stack of its own on an empty store: the day's figures are the day's alone."""
    workdir = tmp_path_factory.mktemp("day")
    url = f"sqlite+aiosqlite:///{workdir / 'desk.db'}"
    migrate(url)
    running = Stack.start(workdir, url, settings=stack_settings(PLAN))
    asyncio.run(warm_up(running.rasa_url))
    yield running
    running.stop()


def test_the_plan_is_a_pure_function_of_its_arguments():
    again = plan_day(1.0, seed=7, minutes=0.5, shape=SMALL_DAY, targets=Targets(8.0, 4.0), agents=3)
    assert again == PLAN
    assert plan_day(1.0, seed=8, minutes=0.5, shape=SMALL_DAY) != PLAN


async def test_the_dashboard_shows_the_simulated_day_exactly(day_stack: Stack):
    truth = await simulate(day_stack.base_url, PLAN, day_stack.password)
    # Every contact went as planned, each wait on its planned side of the thresholds.
    assert truth.surprises() == []
    expected = truth.expected()
    # The day moves every figure (a plan that did not would prove little).
    queue = expected["queue"]
    assert 0 < queue["answered_within_target"] < queue["answered"]
    assert 0 < queue["short_abandons"] < queue["abandoned"]
    assert 0 < expected["resolution"]["settled"] < expected["resolution"]["pending"]
    assert expected["resolution"]["not_counted"] > 0
    assert 0 < expected["outcome"]["ratings"] < expected["outcome"]["rating_requests"]

    figures = await dashboard(day_stack.base_url, day_stack.password, truth)
    for name in ("queue", "bot", "resolution", "outcome"):
        shown = {key: figures[name][key] for key in expected[name]}
        assert shown == expected[name], name
    rows = {row["username"]: row for row in figures["agents"]["agents"]}
    for username, figure in expected["agents"].items():
        assert {key: rows[username][key] for key in figure} == figure, username
    [general] = [team for team in figures["agents"]["teams"] if team["team"] == "general"]
    assert general["handled"] == general["answered"] == queue["answered"]

    # Times: the server's own, of exactly the simulator's conversations ...
    stored = await stored_times(day_stack.database_url, truth)
    assert figures["queue"]["asa"] == stored.figures()["asa"]
    assert general["aht"] == stored.figures()["aht"]
    # ... each inside what the simulator watched, and so the figures too.
    assert stored.outside(truth) == []
    for name, shown in (("asa", figures["queue"]["asa"]), ("aht", general["aht"])):
        for key, (low, high) in truth.bounds()[name].items():
            assert low is not None and high is not None
            assert low - 5e-4 <= shown[key] <= high + 5e-4, (name, key)
