"""What logs say instead of a credential or an identifier: a web session id is the
customer's bearer credential, and an openid, a chat id or an address points at a
person. Logs carry a short keyed hash of it: the same value always gives the same
few characters (one customer's lines can be followed, and a support request that
quotes the value can be matched), but nothing of the value can be read back or
guessed from them, not even for short numeric ids."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from desk.settings import get_settings


@lru_cache(maxsize=1)
def _key() -> bytes:
    return hashlib.sha256(b"log pseudonyms\0" + get_settings().secret_key.encode()).digest()


def pseudonym(value: object) -> str:
    """A short, stable stand-in for `value` in a log line."""
    return "#" + hmac.new(_key(), str(value).encode(), hashlib.sha256).hexdigest()[:10]
