"""``parse_mode=MarkdownV2`` and the legacy ``Markdown``: ports of tdlib's ``parse_markdown_v2`` and
``parse_markdown`` (td/telegram/MessageEntity.cpp), errors word for word, offsets in UTF-8 bytes."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.emulator.entities import Entity, sort_entities
from bot.emulator.errors import ApiError
from bot.emulator.parse_html import checked_link, user_id_of_link

logger = logging.getLogger(__name__)

_RESERVED = frozenset(b"_*[]()~`>#+-=|{}.!\n")
_CODE_RESERVED = frozenset(b"`")
_SPACES = frozenset(b" \t\r\n\v\f\x00")
# tdlib's names for entity types, used in "Can't find end of X entity" errors
_TD_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "pre_code": "PreCode",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
    "blockquote": "BlockQuote",
}


@dataclass
class _Open:
    type: str
    argument: str
    offset: int  # UTF-16
    byte_offset: int  # in the source
    begin: int  # in the output


def _reserved(char: int) -> ApiError:
    return ApiError.parse_entities(f"Character '{chr(char)}' is reserved and must be escaped with the preceding '\\'")


def _unclosed(opened: _Open) -> ApiError:
    return ApiError.parse_entities(
        f"Can't find end of {_TD_NAMES[opened.type]} entity at byte offset {opened.byte_offset}"
    )


class MarkdownV2Parser:
    def __init__(self, source: str) -> None:
        self.data = source.encode("utf-8", "surrogatepass")
        self.size = len(self.data)
        self.out = bytearray()
        self.utf16 = 0
        self.nested: list[_Open] = []
        self.entities: list[Entity] = []
        self.have_blockquote = False

    def at(self, index: int) -> int:
        return self.data[index] if index < self.size else 0

    def parse(self) -> tuple[str, list[Entity]]:
        i = 0
        while i < self.size:
            c = self.at(i)
            if c == ord("\\") and 0 < self.at(i + 1) <= 126:
                self.utf16 += 1
                self.out.append(self.at(i + 1))
                i += 2
                continue
            in_code = bool(self.nested) and self.nested[-1].type in {"code", "pre", "pre_code"}
            if c not in (_CODE_RESERVED if in_code else _RESERVED):
                if c & 0xC0 != 0x80:
                    self.utf16 += 1 + (c >= 0xF0)
                self.out.append(c)
                i += 1
                continue
            i = self._end(i) if self._is_end(i) else self._begin(i)
        if self.have_blockquote and self.nested and self.nested[-1].type == "blockquote":
            opened = self.nested.pop()
            if self.utf16 != opened.offset:
                self.entities.append(Entity("blockquote", opened.offset, self.utf16 - opened.offset))
        if self.nested:
            raise _unclosed(self.nested[-1])
        return self.out.decode("utf-8", "replace"), sort_entities(self.entities)

    def _is_end(self, i: int) -> bool:
        if not self.nested:
            return False
        c, following = self.at(i), self.at(i + 1)
        if self.have_blockquote and c == ord("\n") and (i + 1 == self.size or following != ord(">")):
            return True
        kind = self.nested[-1].type
        ends = {
            "bold": c == ord("*"),
            "italic": c == ord("_") and following != ord("_"),
            "code": c == ord("`"),
            "pre": c == ord("`") and following == ord("`") and self.at(i + 2) == ord("`"),
            "text_link": c == ord("]"),
            "underline": c == ord("_") and following == ord("_"),
            "strikethrough": c == ord("~"),
            "spoiler": c == ord("|") and following == ord("|"),
            "custom_emoji": c == ord("]"),
        }
        ends["pre_code"] = ends["pre"]
        return ends.get(kind, False)

    def _begin(self, i: int) -> int:
        c = self.at(i)
        byte_offset = i
        argument = ""
        kind: str | None
        if c == ord("_"):
            kind = "underline" if self.at(i + 1) == ord("_") else "italic"
            i += kind == "underline"
        elif c == ord("*"):
            kind = "bold"
        elif c == ord("~"):
            kind = "strikethrough"
        elif c == ord("|") and self.at(i + 1) == ord("|"):
            kind, i = "spoiler", i + 1
        elif c == ord("["):
            kind = "text_link"
        elif c == ord("`"):
            if self.at(i + 1) == ord("`") and self.at(i + 2) == ord("`"):
                kind, argument, i = self._pre_start(i + 3)
            else:
                kind = "code"
        elif c == ord("!") and self.at(i + 1) == ord("["):
            kind, i = "custom_emoji", i + 1
        elif c == ord("\n"):
            self.utf16 += 1
            self.out.append(c)
            kind = None
            if i + 1 < self.size and self.at(i + 1) == ord(">"):
                i += 1
                if not self.have_blockquote:
                    kind = "blockquote"
                    self.have_blockquote = True
        elif c == ord(">") and i == 0:
            kind = "blockquote"
            self.have_blockquote = True
        else:
            raise _reserved(c)
        if kind is not None:
            self.nested.append(_Open(kind, argument, self.utf16, byte_offset, len(self.out)))
        return i + 1

    def _pre_start(self, i: int) -> tuple[str, str, int]:
        """After an opening ```: the entity type, its language and the position before the first content byte."""
        kind, language = "pre", ""
        end = i
        while self.at(end) not in _SPACES and self.at(end) != ord("`"):
            end += 1
        if i != end and end < self.size and self.at(end) != ord("`"):
            kind, language, i = "pre_code", self.data[i:end].decode("utf-8", "replace"), end
        if self.at(i) in (ord("\n"), ord("\r")):
            pair = self.at(i + 1) in (ord("\n"), ord("\r")) and self.at(i) != self.at(i + 1)
            i += 2 if pair else 1
        return kind, language, i - 1

    def _end(self, i: int) -> int:
        opened = self.nested[-1]
        c = self.at(i)
        if c == ord("\n") and opened.type != "blockquote":
            raise _unclosed(opened)
        skip = self.utf16 == opened.offset
        entity = Entity(opened.type, opened.offset, self.utf16 - opened.offset)
        if opened.type in {"underline", "spoiler"}:
            i += 1
        elif opened.type in {"pre", "pre_code"}:
            entity.type, entity.language = "pre", opened.argument or None
            i += 2
        elif opened.type == "text_link":
            url, i = self._link_target(i, opened)
            user_id = user_id_of_link(url)
            if user_id is not None:
                entity.type, entity.user = "text_mention", {"id": user_id, "is_bot": False, "first_name": ""}
            elif (link := checked_link(url)) is not None:
                entity.url = link
            else:
                skip = True
        elif opened.type == "custom_emoji":
            if self.at(i + 1) != ord("("):
                raise ApiError.parse_entities("Custom emoji entity must contain a tg://emoji URL")
            url, i = self._link_target(i, opened)
            entity.custom_emoji_id = url.rpartition("id=")[2]
            if not entity.custom_emoji_id.isdigit():
                raise ApiError.parse_entities("Invalid custom emoji URL specified")
        elif opened.type == "blockquote":
            self.have_blockquote = False
            self.out.append(c)
            self.utf16 += 1
        if not skip:
            self.entities.append(entity)
        self.nested.pop()
        return i + 1

    def _link_target(self, i: int, opened: _Open) -> tuple[str, int]:
        """The URL after ``]`` (the link text itself when no ``(`` follows) and the position of the last byte read."""
        if self.at(i + 1) != ord("("):
            return self.out[opened.begin :].decode("utf-8", "replace"), i
        i += 2
        url_begin = i
        url = bytearray()
        while i < self.size and self.at(i) != ord(")"):
            if self.at(i) == ord("\\") and 0 < self.at(i + 1) <= 126:
                url.append(self.at(i + 1))
                i += 2
                continue
            url.append(self.at(i))
            i += 1
        if self.at(i) != ord(")"):
            raise ApiError.parse_entities(f"Can't find end of a URL at byte offset {url_begin}")
        return url.decode("utf-8", "replace"), i


def parse_markdown_v2(source: str) -> tuple[str, list[Entity]]:
    return MarkdownV2Parser(source).parse()


def parse_markdown(source: str) -> tuple[str, list[Entity]]:
    """The legacy ``Markdown`` mode: *bold*, _italic_, `code`, ```pre```, [text](url); backslash escapes _*`[."""
    data = source.encode("utf-8", "surrogatepass")
    size = len(data)

    def at(index: int) -> int:
        return data[index] if index < size else 0

    out = bytearray()
    entities: list[Entity] = []
    utf16 = 0
    i = 0
    while i < size:
        c = at(i)
        if c == ord("\\") and at(i + 1) in b"_*`[" and at(i + 1):
            out.append(at(i + 1))
            utf16 += 1
            i += 2
            continue
        if c not in b"_*`[":
            if c & 0xC0 != 0x80:
                utf16 += 1 + (c >= 0xF0)
            out.append(c)
            i += 1
            continue
        begin = i
        end_char = ord("]") if c == ord("[") else c
        is_pre = False
        language = ""
        i += 1
        if c == ord("`") and at(i) == ord("`") and at(i + 1) == ord("`"):
            i += 2
            is_pre = True
            end = i
            while at(end) not in _SPACES and at(end) != ord("`"):
                end += 1
            if i != end and end < size and at(end) != ord("`"):
                language, i = data[i:end].decode("utf-8", "replace"), end
            if at(i) in (ord("\n"), ord("\r")):
                i += 2 if at(i + 1) in (ord("\n"), ord("\r")) and at(i) != at(i + 1) else 1
        offset = utf16
        while i < size and (at(i) != end_char or (is_pre and not (at(i + 1) == ord("`") and at(i + 2) == ord("`")))):
            if at(i) & 0xC0 != 0x80:
                utf16 += 1 + (at(i) >= 0xF0)
            out.append(at(i))
            i += 1
        if i == size:
            raise ApiError.parse_entities(f"Can't find end of the entity starting at byte offset {begin}")
        if offset != utf16:
            length = utf16 - offset
            if c == ord("_"):
                entities.append(Entity("italic", offset, length))
            elif c == ord("*"):
                entities.append(Entity("bold", offset, length))
            elif c == ord("`"):
                kind = "pre" if is_pre else "code"
                entities.append(Entity(kind, offset, length, language=language or None))
            else:
                text_end = i
                url = data[begin + 1 : text_end].decode("utf-8", "replace")
                if at(i + 1) == ord("("):
                    i += 2
                    url_bytes = bytearray()
                    while i < size and at(i) != ord(")"):
                        url_bytes.append(at(i))
                        i += 1
                    url = url_bytes.decode("utf-8", "replace")
                if (link := checked_link(url)) is not None:
                    entities.append(Entity("text_link", offset, length, url=link))
        if is_pre:
            i += 2
        i += 1
    return out.decode("utf-8", "replace"), sort_entities(entities)
