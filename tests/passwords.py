"""Password hashes for the agents tests create: argon2 is slow on purpose (about
0.2 s a hash), so each password is hashed once per test process."""

from __future__ import annotations

import functools

from desk.sign_in import hash_password


@functools.cache
def password_hash(password: str) -> str:
    return hash_password(password)
