"""Job ids: short enough to type, too many to guess."""

from __future__ import annotations

import secrets

# No 0/o, 1/i/l: nothing a user could misread when typing an id from a screen.
ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
LENGTH = 10  # 31**10 ≈ 8e14 ids (≈ 49 bits)


def new_job_id() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalize_job_id(text: str) -> str | None:
    """A typed id in canonical form, or None when it cannot be an id at all."""
    candidate = text.strip().lower()
    if len(candidate) != LENGTH or any(char not in ALPHABET for char in candidate):
        return None
    return candidate
