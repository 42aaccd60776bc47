"""Which language a customer writes in, for the bot and for the gateway.

Runs inside Rasa's environment too, so this module imports only the standard
library at module level; the Rasa component below is defined only when Rasa is
importable.
"""

from __future__ import annotations

import re
from typing import Any

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def detect_language(text: str | None) -> str | None:
    """'zh' when the text has Chinese characters, 'en' when it has English
    words and no Chinese, None when it has neither (digits, codes, emoji),
    so that a bare policy number or code keeps the conversation's language.

    Mixed text such as "我的claim到哪了" is Chinese: the customer reads Chinese."""
    if not text:
        return None
    if _HAN.search(text):
        return "zh"
    if _LATIN_WORD.search(text):
        return "en"
    return None


try:  # pragma: no cover - exercised in Rasa's environment
    from rasa.engine.graph import ExecutionContext, GraphComponent
    from rasa.engine.recipes.default_recipe import DefaultV1Recipe
    from rasa.engine.storage.resource import Resource
    from rasa.engine.storage.storage import ModelStorage
    from rasa.nlu.extractors.extractor import EntityExtractorMixin
    from rasa.shared.nlu.constants import ENTITIES, TEXT
    from rasa.shared.nlu.training_data.message import Message
except ImportError:  # the app environment has no Rasa
    pass
else:

    @DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
    class LanguageDetector(GraphComponent, EntityExtractorMixin):
        """Adds a `language` entity (zh/en) to every message whose language is
        clear; the `language` slot picks it up, so responses follow the
        customer when they switch languages mid-conversation."""

        @classmethod
        def create(
            cls,
            config: dict[str, Any],
            model_storage: ModelStorage,
            resource: Resource,
            execution_context: ExecutionContext,
        ) -> LanguageDetector:
            return cls()

        def process(self, messages: list[Message]) -> list[Message]:
            for message in messages:
                language = detect_language(message.get(TEXT))
                if language is None:
                    continue
                entity = {
                    "entity": "language",
                    "value": language,
                    "start": 0,
                    "end": 0,
                    "confidence_entity": 1.0,
                    "extractor": self.__class__.__name__,
                }
                message.set(ENTITIES, message.get(ENTITIES, []) + [entity], add_to_output=True)
            return messages
