"""The console's interface in Chinese and English (`locales/<language>/<page>.json`)."""

from __future__ import annotations

from pathlib import Path

from desk.texts import LANGUAGES, Catalogue, language_of, preferred

CONSOLE = Catalogue(Path(__file__).resolve().parent / "locales")
t = CONSOLE.t
translator = CONSOLE.translator
strings = CONSOLE.strings

__all__ = ["CONSOLE", "LANGUAGES", "language_of", "preferred", "strings", "t", "translator"]
