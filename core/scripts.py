"""Turning what a user sent into script text, or the reason why not (``ScriptRejectedError.reason``)."""

from __future__ import annotations

import codecs

from core.errors import RejectReason, ScriptRejectedError
from core.formats import parse_script, script_format
from core.storyboard import script_lines


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
        raise ScriptRejectedError(RejectReason.UNDECODABLE) from exc
    if "\x00" in text:
        raise ScriptRejectedError(RejectReason.BINARY)
    return text


def clean_script(text: str, *, max_chars: int, max_scenes: int, file_name: str | None = None) -> str:
    """The script as it will be stored, or ScriptRejectedError saying why it cannot be. Its scenes are counted as
    its format (by ``file_name``) reads them: a screenplay's headings, not its lines."""
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates become "?"
    if "\x00" in text:
        raise ScriptRejectedError(RejectReason.BINARY)
    text = text.lstrip("\ufeff").strip()
    lines = script_lines(text)
    if not lines:
        raise ScriptRejectedError(RejectReason.EMPTY)
    if len(text) > max_chars:
        raise ScriptRejectedError(RejectReason.TOO_LONG, size=len(text), limit=max_chars)
    scenes = len(lines) if script_format(file_name) == "text" else _scene_count(text, file_name)
    if scenes > max_scenes:
        raise ScriptRejectedError(RejectReason.TOO_MANY_SCENES, size=scenes, limit=max_scenes)
    return text


def _scene_count(text: str, file_name: str | None) -> int:
    try:
        return len(parse_script(text, file_name).scenes)
    except ValueError as exc:  # only a title page, only markup
        raise ScriptRejectedError(RejectReason.EMPTY) from exc
