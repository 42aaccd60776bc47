"""The bot's responses as trainers review and edit them: each response's Chinese and
English texts side by side (FAQ answers first), and a text edited in one language.

A response has a variant per language in `bot/domain`: the English one carries a
condition on the `language` slot, the one without a condition is what the bot
says by default, in Chinese (config.yml: `language: zh`). An edit is written back
to the domain file the response lives in, only if the trainer saw the response's
current texts (see `desk.training.project`)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from desk.errors import DeskError
from desk.training.project import Project, TrainingConflict, YamlFile, locked, version_of

LANGUAGES = ("zh", "en")
# A variant with no condition on the language slot.
DEFAULT_LANGUAGE = "zh"
LANGUAGE_SLOT = "language"
RESPONSE_NAME = re.compile(r"^utter_[a-z0-9_]+(/[a-z0-9_]+)?$")
FAQ_PREFIX = "utter_faq/"
MAX_RESPONSE_LENGTH = 2000


@dataclass(frozen=True)
class Response:
    name: str
    file: str  # relative to the project's root
    version: str
    texts: dict[str, list[str]]  # by language: zh and en

    @property
    def is_faq(self) -> bool:
        return self.name.startswith(FAQ_PREFIX)


@dataclass
class _Response:
    file: YamlFile
    name: str
    variants: CommentedSeq


class _Domain:
    """Every domain file of the project, loaded for a round trip."""

    def __init__(self, project: Project):
        self.project = project
        self.responses: dict[str, _Response] = {}
        for path in project.domain_files():
            loaded = YamlFile.load(path)
            document = loaded.document
            if not isinstance(document, dict) or not isinstance(document.get("responses"), dict):
                continue
            for name, variants in document["responses"].items():
                if isinstance(variants, CommentedSeq):
                    self.responses.setdefault(str(name), _Response(loaded, str(name), variants))

    def get(self, name: str) -> _Response:
        check_response_name(name)
        found = self.responses.get(name)
        if found is None:
            raise DeskError("not_found", f"There is no response {name}.", 404)
        return found

    def view(self, found: _Response) -> Response:
        texts: dict[str, list[str]] = {language: [] for language in LANGUAGES}
        pairs = []
        for variant in found.variants:
            if isinstance(variant, dict) and "text" in variant:
                language = language_of(variant)
                texts.setdefault(language, []).append(str(variant["text"]))
                pairs.append([language, str(variant["text"])])
        return Response(
            name=found.name,
            file=str(found.file.path.relative_to(self.project.root)),
            version=version_of([found.name, pairs]),
            texts=texts,
        )


def language_of(variant: dict[str, object]) -> str:
    """The language a variant is said in: its condition on the language slot's value."""
    conditions = variant.get("condition")
    if isinstance(conditions, list):
        for condition in conditions:
            if (
                isinstance(condition, dict)
                and condition.get("type") == "slot"
                and condition.get("name") == LANGUAGE_SLOT
            ):
                return str(condition.get("value"))
    return DEFAULT_LANGUAGE


def check_response_name(name: str) -> None:
    if not RESPONSE_NAME.match(name):
        raise DeskError(
            "bad_response_name",
            f"{name!r} is not a response name: utter_ and lower-case letters, digits and _, "
            "optionally one /topic.",
            400,
        )


def clean_text(text: str) -> str:
    """The response text as saved (without surrounding spaces), or why it cannot be one."""
    text = text.strip()
    if not text:
        raise DeskError("empty_response", "A response cannot be empty.", 400)
    if len(text) > MAX_RESPONSE_LENGTH:
        raise DeskError(
            "response_too_long", f"A response has at most {MAX_RESPONSE_LENGTH} characters.", 400
        )
    if any(unicodedata.category(char) == "Cc" and char not in "\n\t" for char in text):
        raise DeskError("bad_character", "A response cannot have control characters.", 400)
    return text


def list_responses(project: Project) -> list[Response]:
    """Every response with its texts by language: the FAQ answers first, then the
    others, each in file order."""
    domain = _Domain(project)
    views = [domain.view(found) for found in domain.responses.values()]
    return [view for view in views if view.is_faq] + [view for view in views if not view.is_faq]


def response(project: Project, name: str) -> Response:
    domain = _Domain(project)
    return domain.view(domain.get(name))


def edit_response(project: Project, name: str, language: str, text: str, version: str) -> Response:
    """Sets the response's text in one language (its first variant in that language;
    a new variant when it has none), leaving the other language as it is."""
    if language not in LANGUAGES:
        raise DeskError("bad_language", f"The language is one of {', '.join(LANGUAGES)}.", 400)
    text = clean_text(text)
    with locked(project.domain):
        domain = _Domain(project)
        found = domain.get(name)
        current = domain.view(found)
        if current.version != version:
            raise TrainingConflict(f"The response {name}", current)
        for variant in found.variants:
            if isinstance(variant, dict) and "text" in variant and language_of(variant) == language:
                # ruamel.yaml keeps the replaced scalar's quoting
                variant["text"] = text
                break
        else:
            found.variants.append(_new_variant(language, text))
        found.file.save()
        return domain.view(found)


def _new_variant(language: str, text: str) -> CommentedMap:
    variant = CommentedMap(text=DoubleQuotedScalarString(text))
    if language != DEFAULT_LANGUAGE:
        variant["condition"] = [{"type": "slot", "name": LANGUAGE_SLOT, "value": language}]
    return variant
