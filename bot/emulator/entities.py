"""Message entities: the value type, UTF-16 arithmetic, sorting, automatic detection and trimming.

Offsets and lengths are in UTF-16 code units, as in the Bot API. ``fix_formatted_text`` follows tdlib's function of
the same name: whitespace-only entities go, entities lose leading blanks, the text is trimmed of spaces and newlines
at both ends, and auto-detected entities (bot commands, mentions, hashtags, URLs) are merged in where they do not
cross a code, pre or link entity.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace

from bot.emulator.errors import MESSAGE_MUST_BE_NON_EMPTY, ApiError

logger = logging.getLogger(__name__)

_PRIORITY = {
    "mention": 50,
    "hashtag": 50,
    "cashtag": 50,
    "bot_command": 50,
    "url": 50,
    "email": 50,
    "phone_number": 50,
    "bold": 90,
    "italic": 91,
    "underline": 92,
    "strikethrough": 93,
    "spoiler": 94,
    "code": 20,
    "pre": 11,
    "text_link": 49,
    "text_mention": 49,
    "blockquote": 0,
    "expandable_blockquote": 0,
    "custom_emoji": 99,
}
ENTITY_TYPES = frozenset(_PRIORITY)
SPLITTABLE = frozenset({"bold", "italic", "underline", "strikethrough", "spoiler"})
BLOCKQUOTES = frozenset({"blockquote", "expandable_blockquote"})
HIDDEN_DATA = frozenset({"text_link", "text_mention", "custom_emoji"})

_SPACE = 0x20
_NEWLINE = 0x0A


@dataclass
class Entity:
    type: str
    offset: int
    length: int
    url: str | None = None
    language: str | None = None
    user: dict[str, object] | None = None
    custom_emoji_id: str | None = None

    @property
    def end(self) -> int:
        return self.offset + self.length

    def sort_key(self) -> tuple[int, int, int]:
        priority = 10 if self.type == "pre" and self.language else _PRIORITY.get(self.type, 50)
        return (self.offset, -self.length, priority)

    def to_api(self) -> dict[str, object]:
        body: dict[str, object] = {"type": self.type, "offset": self.offset, "length": self.length}
        if self.url is not None:
            body["url"] = self.url
        if self.language:
            body["language"] = self.language
        if self.user is not None:
            body["user"] = self.user
        if self.custom_emoji_id is not None:
            body["custom_emoji_id"] = self.custom_emoji_id
        return body


def sort_entities(entities: list[Entity]) -> list[Entity]:
    return sorted(entities, key=Entity.sort_key)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def utf16_slice(text: str, offset: int, length: int) -> str:
    units = text.encode("utf-16-le", "surrogatepass")
    return units[2 * offset : 2 * (offset + length)].decode("utf-16-le", "replace")


def utf16_offsets(text: str) -> list[int]:
    """``offsets[i]`` is the UTF-16 offset of character ``i``; one extra item for the end."""
    offsets = [0]
    for char in text:
        offsets.append(offsets[-1] + (2 if ord(char) > 0xFFFF else 1))
    return offsets


def entity_text(text: str, entity: dict[str, object] | Entity) -> str:
    """The part of ``text`` an entity (Bot API dict or ``Entity``) covers."""
    if isinstance(entity, Entity):
        return utf16_slice(text, entity.offset, entity.length)
    return utf16_slice(text, int(str(entity["offset"])), int(str(entity["length"])))


# --- automatic entities --------------------------------------------------------------------------------------

_BOT_COMMAND = re.compile(r"(?<![\w/<>])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/<>])")
_MENTION = re.compile(r"(?<!\w)@[A-Za-z0-9_]{2,32}(?!\w)")
_HASHTAG = re.compile(r"(?<![\w\u200c])#[\w\u200c]{1,256}(?![\w\u200c]*#)")
_URL = re.compile(r"(?<![\w@/])https?://[^\s<>\"']+", re.IGNORECASE)
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}(?![\w@])")
_URL_TRAILING = ".,;:!?)]}'\""


def find_entities(text: str) -> list[Entity]:
    """Bot commands, mentions, hashtags, e-mail addresses and scheme-ful URLs, as Telegram detects them
    (a simplified subset of tdlib's ``find_entities``: no bare domains, cashtags or phone numbers)."""
    offsets = utf16_offsets(text)
    found: list[Entity] = []

    def add(kind: str, start: int, end: int) -> None:
        found.append(Entity(kind, offsets[start], offsets[end] - offsets[start]))

    for match in _URL.finditer(text):
        end = match.end()
        while end > match.start() and text[end - 1] in _URL_TRAILING:
            end -= 1
        add("url", match.start(), end)
    for kind, pattern in (("email", _EMAIL), ("bot_command", _BOT_COMMAND), ("mention", _MENTION)):
        for match in pattern.finditer(text):
            add(kind, match.start(), match.end())
    for match in _HASHTAG.finditer(text):
        if any(char.isalpha() for char in match.group()[1:]):
            add("hashtag", match.start(), match.end())
    return found


def _intersects(a: Entity, b: Entity) -> bool:
    return a.offset < b.end and b.offset < a.end


def merge_new_entities(entities: list[Entity], new: list[Entity]) -> list[Entity]:
    """Add detected entities that cross no existing continuous entity (code, pre, links...) nor each other."""
    blocking = [entity for entity in entities if entity.type not in SPLITTABLE | BLOCKQUOTES]
    accepted: list[Entity] = []
    for candidate in sort_entities(new):
        if any(_intersects(candidate, other) for other in blocking + accepted):
            continue
        accepted.append(candidate)
    return sort_entities(entities + accepted)


# --- trimming ------------------------------------------------------------------------------------------------


class _Units:
    """A text as UTF-16 code units."""

    def __init__(self, text: str) -> None:
        self.raw = text.encode("utf-16-le", "surrogatepass")
        self.size = len(self.raw) // 2

    def unit(self, index: int) -> int:
        return self.raw[2 * index] | (self.raw[2 * index + 1] << 8)

    def blank(self, index: int) -> bool:
        return self.unit(index) in (_SPACE, _NEWLINE)

    def text(self, start: int, end: int) -> str:
        return self.raw[2 * start : 2 * end].decode("utf-16-le", "surrogatepass")


def _drop_blank_entities(units: _Units, entities: list[Entity]) -> list[Entity]:
    kept: list[Entity] = []
    for entity in entities:
        entity = replace(entity, length=max(0, min(entity.length, units.size - entity.offset)))
        if entity.type not in HIDDEN_DATA:
            while entity.length > 0 and units.blank(entity.offset):
                entity.offset += 1
                entity.length -= 1
            if not any(not units.blank(i) for i in range(entity.offset, entity.end)):
                entity.length = 0
        if entity.length > 0:
            kept.append(entity)
    return sort_entities(kept)


def fix_formatted_text(
    text: str, entities: list[Entity], *, allow_empty: bool, detect: bool = True
) -> tuple[str, list[Entity]]:
    """Trim ``text`` and fix ``entities`` as Telegram does before storing a message."""
    units = _Units(text)
    entities = _drop_blank_entities(units, [entity for entity in entities if entity.length > 0])
    last = units.size - 1
    while last >= 0 and units.blank(last):
        last -= 1
    if last < 0:
        if allow_empty:
            return "", []
        raise ApiError.bad_request(MESSAGE_MUST_BE_NON_EMPTY)
    clipped: list[Entity] = []
    for entity in entities:
        if entity.offset > last:
            continue
        clipped.append(replace(entity, length=min(entity.length, last + 1 - entity.offset)))
    first = 0
    bound = min((entity.offset for entity in clipped), default=last + 1)
    while first < bound and units.blank(first):
        first += 1
    trimmed = units.text(first, last + 1)
    shifted = sort_entities([replace(entity, offset=entity.offset - first) for entity in clipped])
    if detect:
        shifted = merge_new_entities(shifted, find_entities(trimmed))
    return trimmed, shifted


# --- entities given as JSON ----------------------------------------------------------------------------------


def entities_from_json(value: object, text: str) -> list[Entity]:
    """The ``entities`` / ``caption_entities`` argument, checked against ``text``."""
    if not isinstance(value, list):
        raise ApiError.bad_request("can't parse entities JSON object")
    size = utf16_len(text)
    result: list[Entity] = []
    for item in value:
        if not isinstance(item, dict):
            raise ApiError.bad_request("can't parse MessageEntity: expected an Object")
        kind = item.get("type")
        offset = item.get("offset")
        length = item.get("length")
        if not isinstance(kind, str) or kind not in ENTITY_TYPES:
            raise ApiError.bad_request("can't parse MessageEntity: Unsupported type specified")
        if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length < 0:
            raise ApiError.bad_request('can\'t parse MessageEntity: Field "offset" must be a valid Number')
        if offset + length > size:
            raise ApiError.bad_request(
                f"entity beginning at UTF-16 offset {offset} ends after the end of the text at UTF-16 offset "
                f"{offset + length}"
            )
        entity = Entity(kind, offset, length)
        if kind == "text_link":
            url = item.get("url")
            if not isinstance(url, str) or not url:
                raise ApiError.bad_request('can\'t parse MessageEntity: Field "url" must be of type String')
            entity.url = url
        elif kind == "pre" and isinstance(item.get("language"), str):
            entity.language = str(item["language"])
        elif kind == "text_mention":
            user = item.get("user")
            if not isinstance(user, dict):
                raise ApiError.bad_request('can\'t parse MessageEntity: Field "user" must be of type Object')
            entity.user = user
        elif kind == "custom_emoji":
            entity.custom_emoji_id = str(item.get("custom_emoji_id", ""))
        result.append(entity)
    return sort_entities(result)
