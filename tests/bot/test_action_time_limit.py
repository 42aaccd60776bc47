"""The actions' own time limit is what keeps them inside the gateway's wait for Rasa,
because Rasa 3.6.21 cannot be told to wait less than 5 minutes for an action."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from desk.settings import Settings

RASA_PYTHON = Path(__file__).resolve().parents[2] / ".venv-rasa" / "bin" / "python"

# Runs in Rasa's environment: the timeout Rasa's remote action passes to the action
# server's endpoint, when endpoints.yml asks for 5 s.
ASK_RASA = """
import asyncio
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

seen = {}

async def request(self, method="post", subpath=None, content_type=None, compress=False, **kw):
    seen.update(kw)
    return {"events": [], "responses": []}

EndpointConfig.request = request
endpoint = EndpointConfig.from_dict({"url": "http://127.0.0.1:5055/webhook", "timeout": 5})
domain = Domain.from_yaml("version: '3.1'\\nactions: [action_x]")
tracker = DialogueStateTracker("s", domain.slots)
asyncio.run(
    RemoteAction("action_x", endpoint).run(
        CollectingOutputChannel(), TemplatedNaturalLanguageGenerator({}), tracker, domain
    )
)
print("timeout", seen["timeout"])
"""


def test_two_actions_fit_in_the_gateways_wait_by_default():
    default = {name: field.default for name, field in Settings.model_fields.items()}
    # a turn that ends a form runs its check and its submit
    assert 2 * default["action_timeout_seconds"] < default["rasa_timeout_seconds"]
    assert default["bot_turn_lease_seconds"] > 2 * default["rasa_timeout_seconds"]


@pytest.mark.skipif(not RASA_PYTHON.exists(), reason="needs Rasa's environment (make setup)")
def test_rasa_ignores_an_action_timeout_in_endpoints_yml():
    result = subprocess.run(
        [str(RASA_PYTHON), "-c", ASK_RASA], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-2:] == ["timeout", "300"]
