"""Jieba for Chinese runs, Latin words kept whole, and no whitespace tokens.

Rasa's JiebaTokenizer returns the spaces between English words as tokens of
their own, which only adds noise to the features of English and mixed text.
"""

from __future__ import annotations

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.training_data.message import Message


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True)
class BilingualTokenizer(JiebaTokenizer):
    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        import jieba

        tokens = [
            Token(word, start)
            for word, start, _end in jieba.tokenize(message.get(attribute))
            if word.strip()
        ]
        return self._apply_token_pattern(tokens)
