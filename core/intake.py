"""Turning what a user sent into script text, or a clear reason why not."""

from __future__ import annotations

import codecs

from core.errors import ScriptRejectedError
from core.storyboard import script_lines

BINARY_HINT = "That looks like a binary file, not a script. Please send plain text (.txt, .md or .fountain)."


def decode_script(data: bytes) -> str:
    """UTF-8 (with or without a BOM) or UTF-16 with a BOM; anything else is refused with a reason."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif data.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    else:
        encoding = "utf-8"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ScriptRejectedError(
            "I could not read that file as text. Please save it as UTF-8 (or UTF-16 with a BOM) and send it again."
        ) from exc
    if "\x00" in text:
        raise ScriptRejectedError(BINARY_HINT)
    return text


def clean_script(text: str, *, max_chars: int, max_scenes: int) -> str:
    """The script as it will be stored, or ScriptRejectedError with a message for the user."""
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates become "?"
    if "\x00" in text:
        raise ScriptRejectedError(BINARY_HINT)
    text = text.lstrip("\ufeff").strip()
    lines = script_lines(text)
    if not lines:
        raise ScriptRejectedError("The script is empty. Please send some text: one line per scene.")
    if len(text) > max_chars:
        raise ScriptRejectedError(
            f"The script is {len(text):,} characters long; the limit is {max_chars:,}. Please send a shorter one."
        )
    if len(lines) > max_scenes:
        raise ScriptRejectedError(
            f"The script has {len(lines)} non-empty lines; a storyboard holds at most {max_scenes} scenes. "
            "Please split it."
        )
    return text
