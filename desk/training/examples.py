"""Intents and their examples, as trainers review and edit them: every intent with
its counts per language, an intent's Chinese and English examples side by side,
search across all intents, and adding, editing, deleting and moving an example.

An edit is written back to the very file of `bot/data` the intent lives in (see
`desk.training.project`), and only if the trainer saw the intent's current
examples: each read carries a version, and a write against an older one raises a
conflict carrying what is there now. An example that another intent already has is
refused, naming that intent; one that differs from another intent's only in case,
spacing, punctuation or full/half width is saved with a warning."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import LiteralScalarString

from bot.components.language import detect_language
from desk.errors import DeskError
from desk.training.project import Project, TrainingConflict, YamlFile, locked, version_of

LANGUAGES = ("zh", "en")
# Examples without Chinese or English words (policy numbers, codes, emoji).
OTHER = "other"
# Below this many examples in a language, an intent is flagged for more.
FEW_EXAMPLES = 30
MAX_EXAMPLE_LENGTH = 500
INTENT_NAME = re.compile(r"^[a-z][a-z0-9_]*(/[a-z0-9_]+)?$")


def language_of(text: str) -> str:
    return detect_language(text) or OTHER


@dataclass(frozen=True)
class IntentSummary:
    name: str
    file: str  # relative to the project's root
    counts: dict[str, int]  # zh, en and other
    few: list[str]  # the languages with fewer than FEW_EXAMPLES examples


@dataclass(frozen=True)
class IntentExamples:
    """One intent's examples in file order, and by language for side-by-side review."""

    name: str
    file: str
    version: str
    examples: list[str]

    def in_language(self, language: str) -> list[str]:
        return [text for text in self.examples if language_of(text) == language]

    @property
    def zh(self) -> list[str]:
        return self.in_language("zh")

    @property
    def en(self) -> list[str]:
        return self.in_language("en")

    @property
    def other(self) -> list[str]:
        return self.in_language(OTHER)


@dataclass(frozen=True)
class NearDuplicate:
    """A saved example that differs from another intent's only in form."""

    text: str
    intent: str
    example: str


@dataclass(frozen=True)
class Match:
    intent: str
    text: str


@dataclass(frozen=True)
class Saved:
    intent: IntentExamples
    warnings: list[NearDuplicate] = field(default_factory=list)
    # For a move: the intent the example went to.
    target: IntentExamples | None = None


@dataclass
class _Intent:
    """An intent's entry in a loaded file."""

    file: YamlFile
    entry: CommentedMap
    name: str
    examples: list[str]


class _Data:
    """Every NLU file of the project, loaded for a round trip."""

    def __init__(self, project: Project):
        self.project = project
        self.intents: dict[str, _Intent] = {}
        for path in project.data_files():
            loaded = YamlFile.load(path)
            document = loaded.document
            if not isinstance(document, dict) or not isinstance(document.get("nlu"), list):
                continue
            for entry in document["nlu"]:
                # regex, synonym and lookup entries are never touched
                if isinstance(entry, CommentedMap) and "intent" in entry:
                    name = str(entry["intent"])
                    examples = _parse(entry.get("examples"))
                    self.intents[name] = _Intent(loaded, entry, name, examples)

    def get(self, name: str) -> _Intent:
        check_intent_name(name)
        intent = self.intents.get(name)
        if intent is None:
            raise DeskError("not_found", f"There is no intent {name}.", 404)
        return intent

    def view(self, intent: _Intent) -> IntentExamples:
        return IntentExamples(
            name=intent.name,
            file=str(intent.file.path.relative_to(self.project.root)),
            version=version_of([intent.name, intent.examples]),
            examples=list(intent.examples),
        )

    def check_version(self, intent: _Intent, version: str) -> None:
        current = self.view(intent)
        if current.version != version:
            raise TrainingConflict(f"The intent {intent.name}", current)

    def check_new(self, text: str, ignore: tuple[str, str] | None = None) -> None:
        """Refuses an example some intent already has (but `ignore`, an
        (intent, example) about to go)."""
        for intent in self.intents.values():
            for example in intent.examples:
                if example == text and (intent.name, example) != ignore:
                    raise DeskError(
                        "duplicate_example",
                        f"{text!r} is already an example of the intent {intent.name}.",
                        409,
                    )

    def near_duplicates(self, text: str, target: str) -> list[NearDuplicate]:
        key = normalised(text)
        return [
            NearDuplicate(text, intent.name, example)
            for intent in self.intents.values()
            if intent.name != target
            for example in intent.examples
            if example != text and normalised(example) == key
        ]

    def write(self, *intents: _Intent) -> None:
        """Writes the intents' files back, in the order given; none if any of them
        cannot be."""
        files: dict[Path, YamlFile] = {}
        for intent in intents:
            intent.entry["examples"] = LiteralScalarString(_block(intent.examples))
            files[intent.file.path] = intent.file
        for loaded in files.values():
            loaded.check_writable()
        for loaded in files.values():
            loaded.save()


def _parse(examples: object) -> list[str]:
    """The examples of a `- text` block. One this module would not write back as
    it was (another layout, examples with metadata) is refused for editing."""
    lines = examples.splitlines() if isinstance(examples, str) else []
    texts = [line[2:] for line in lines]
    if _block(texts) != examples or any(not line.startswith("- ") for line in lines):
        raise DeskError("unwritable_file", "These examples are not a `- text` block.", 409)
    return texts


def _block(texts: list[str]) -> str:
    return "".join(f"- {text}\n" for text in texts)


def normalised(text: str) -> str:
    """The text as near-duplicates compare: full-width folded to half-width (NFKC),
    case folded, without whitespace or punctuation."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(
        char
        for char in folded
        if not char.isspace() and not unicodedata.category(char).startswith("P")
    )


def check_intent_name(name: str) -> None:
    if not INTENT_NAME.match(name):
        raise DeskError(
            "bad_intent_name",
            f"{name!r} is not an intent name: lower-case letters, digits and _, "
            "optionally one /topic.",
            400,
        )


def clean_example(text: str) -> str:
    """The example as saved (without surrounding spaces), or why it cannot be one."""
    if "\n" in text or "\r" in text:
        raise DeskError("newline_in_example", "An example is one line.", 400)
    text = text.strip()
    if not text:
        raise DeskError("empty_example", "An example cannot be empty.", 400)
    if len(text) > MAX_EXAMPLE_LENGTH:
        raise DeskError(
            "example_too_long", f"An example has at most {MAX_EXAMPLE_LENGTH} characters.", 400
        )
    if any(unicodedata.category(char) == "Cc" and char != "\t" for char in text):
        raise DeskError("bad_character", "An example cannot have control characters.", 400)
    return text


# Reading ---------------------------------------------------------------------------


def list_intents(project: Project) -> list[IntentSummary]:
    """Every intent, in file order, with how many examples it has in each language."""
    data = _Data(project)
    summaries = []
    for intent in data.intents.values():
        counts = dict.fromkeys((*LANGUAGES, OTHER), 0)
        for text in intent.examples:
            counts[language_of(text)] += 1
        summaries.append(
            IntentSummary(
                name=intent.name,
                file=str(intent.file.path.relative_to(project.root)),
                counts=counts,
                few=[language for language in LANGUAGES if counts[language] < FEW_EXAMPLES],
            )
        )
    return summaries


def intent_examples(project: Project, name: str) -> IntentExamples:
    data = _Data(project)
    return data.view(data.get(name))


def search(project: Project, query: str) -> list[Match]:
    """Examples of any intent that contain `query`, whatever its case."""
    needle = query.strip().casefold()
    if not needle:
        return []
    return [
        Match(intent.name, text)
        for intent in _Data(project).intents.values()
        for text in intent.examples
        if needle in text.casefold()
    ]


# Writing ---------------------------------------------------------------------------


def _edit(
    project: Project, name: str, version: str, change: Callable[[_Data, _Intent], Saved]
) -> Saved:
    with locked(project.data):
        data = _Data(project)
        intent = data.get(name)
        data.check_version(intent, version)
        return change(data, intent)


def add_example(project: Project, name: str, text: str, version: str) -> Saved:
    text = clean_example(text)

    def change(data: _Data, intent: _Intent) -> Saved:
        data.check_new(text)
        intent.examples.append(text)
        data.write(intent)
        return Saved(data.view(intent), data.near_duplicates(text, name))

    return _edit(project, name, version, change)


def edit_example(project: Project, name: str, old: str, new: str, version: str) -> Saved:
    """Replaces an example in place (it keeps its line in the file)."""
    new = clean_example(new)

    def change(data: _Data, intent: _Intent) -> Saved:
        position = _position(intent, old)
        data.check_new(new, ignore=(name, old))
        intent.examples[position] = new
        data.write(intent)
        return Saved(data.view(intent), data.near_duplicates(new, name))

    return _edit(project, name, version, change)


def delete_example(project: Project, name: str, text: str, version: str) -> Saved:
    def change(data: _Data, intent: _Intent) -> Saved:
        del intent.examples[_leaving(intent, text)]
        data.write(intent)
        return Saved(data.view(intent))

    return _edit(project, name, version, change)


def move_example(project: Project, name: str, text: str, to: str, version: str) -> Saved:
    """Moves an example of `name` (seen at `version`) to the end of intent `to`."""

    def change(data: _Data, intent: _Intent) -> Saved:
        target = data.get(to)
        if target is intent:
            raise DeskError("same_intent", "The example is already in this intent.", 400)
        position = _leaving(intent, text)
        data.check_new(text, ignore=(name, text))
        del intent.examples[position]
        target.examples.append(text)
        # The intent gaining it first: cut off in between, the example is in both, not lost.
        data.write(target, intent)
        warnings = data.near_duplicates(text, to)
        return Saved(data.view(intent), warnings, target=data.view(target))

    return _edit(project, name, version, change)


def _position(intent: _Intent, text: str) -> int:
    try:
        return intent.examples.index(text)
    except ValueError:
        raise DeskError("not_found", f"{intent.name} has no example {text!r}.", 404) from None


def _leaving(intent: _Intent, text: str) -> int:
    """Where the example to delete or move away is; an intent keeps at least one
    (Rasa refuses an intent without examples)."""
    position = _position(intent, text)
    if len(intent.examples) == 1:
        raise DeskError("last_example", f"{text!r} is the last example of {intent.name}.", 409)
    return position
