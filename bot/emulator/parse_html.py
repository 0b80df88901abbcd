"""``parse_mode=HTML``: a port of tdlib's ``parse_html`` (td/telegram/MessageEntity.cpp), errors word for word.

The parser walks the UTF-8 bytes, so "byte offset N" in an error is what Telegram would say. One deliberate
difference, on by default (``strict_ampersand``): tdlib keeps a ``&`` that starts no known entity as a literal
character, while the Bot API documentation says every ``&`` must be escaped; the emulator rejects it, so a bot that
forgets to escape user text fails here instead of by luck in production.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from bot.emulator.entities import Entity, sort_entities
from bot.emulator.errors import ApiError

logger = logging.getLogger(__name__)

_ALLOWED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_SIMPLE = {
    "i": "italic",
    "em": "italic",
    "b": "bold",
    "strong": "bold",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
}
_NAMED = {b"lt": ord("<"), b"gt": ord(">"), b"amp": ord("&"), b"quot": ord('"')}
_SPACES = frozenset(b" \t\r\n\v\f\x00")
_LINK_SCHEMES = frozenset({"http", "https", "tg", "ton", "ftp"})


class _Bytes:
    """UTF-8 bytes that read as NUL past the end, like tdlib's C strings."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)

    def at(self, index: int) -> int:
        return self.data[index] if index < self.size else 0

    def is_space(self, index: int) -> bool:
        return self.at(index) in _SPACES

    def slice(self, start: int, end: int) -> str:
        return self.data[start:end].decode("utf-8", "replace")


@dataclass
class _Open:
    tag: str
    argument: str
    offset: int  # UTF-16
    begin: int  # position in the output bytes


def _hex_digit(byte: int) -> int | None:
    char = chr(byte)
    return int(char, 16) if char in "0123456789abcdefABCDEF" and byte else None


def decode_entity(text: _Bytes, pos: int) -> tuple[int, int]:
    """tdlib's ``decode_html_entity``: (code point, position after it), or (0, pos) when there is none."""
    end = pos + 1
    code = 0
    if text.at(pos + 1) == ord("#"):
        end += 1
        if text.at(pos + 2) == ord("x"):
            end += 1
            while (digit := _hex_digit(text.at(end))) is not None:
                code = code * 16 + digit
                end += 1
        else:
            while ord("0") <= text.at(end) <= ord("9"):
                code = code * 10 + text.at(end) - ord("0")
                end += 1
        if code == 0 or code >= 0x10FFFF or end - pos >= 10:
            return 0, pos
    else:
        while chr(text.at(end)).isascii() and chr(text.at(end)).isalpha():
            end += 1
        code = _NAMED.get(text.data[pos + 1 : end], 0)
        if code == 0:
            return 0, pos
    return code, (end + 1 if text.at(end) == ord(";") else end)


def checked_link(url: str) -> str | None:
    """A usable link or None (tdlib drops the entity silently for a bad one)."""
    url = url.strip()
    if not url:
        return None
    if "://" not in url and not url.lower().startswith(("tg:", "ton:")):
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme.lower() not in _LINK_SCHEMES:
        return None
    if parts.scheme.lower() in {"http", "https", "ftp"}:
        host = parts.hostname or ""
        if not host or ("." not in host and host != "localhost") or " " in url:
            return None
    return url


def user_id_of_link(url: str) -> int | None:
    parts = urlsplit(url.strip())
    if parts.scheme.lower() != "tg" or parts.netloc.lower() != "user":
        return None
    values = parse_qs(parts.query).get("id")
    if values and values[0].isdigit() and int(values[0]) > 0:
        return int(values[0])
    return None


class HtmlParser:
    def __init__(self, source: str, *, strict_ampersand: bool = True) -> None:
        try:
            data = source.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ApiError.bad_request("strings must be encoded in UTF-8") from exc
        self.text = _Bytes(data)
        self.strict_ampersand = strict_ampersand
        self.out = bytearray()
        self.utf16 = 0
        self.nested: list[_Open] = []
        self.entities: list[Entity] = []

    def parse(self) -> tuple[str, list[Entity]]:
        text = self.text
        i = 0
        while i < text.size:
            c = text.at(i)
            if c == ord("&"):
                code, after = decode_entity(text, i)
                if code:
                    if 0xD800 <= code <= 0xDFFF:
                        raise ApiError.parse_entities(
                            "Text contains invalid Unicode characters after decoding HTML entities, check for "
                            "unmatched surrogate code units"
                        )
                    self.utf16 += 1 + (code > 0xFFFF)
                    self.out += chr(code).encode("utf-8")
                    i = after
                    continue
                if self.strict_ampersand:
                    raise ApiError.parse_entities(f'Character "&" at byte offset {i} must be escaped as "&amp;"')
            if c != ord("<"):
                if c & 0xC0 != 0x80:
                    self.utf16 += 1 + (c >= 0xF0)
                self.out.append(c)
                i += 1
                continue
            i = self._end_tag(i) if text.at(i + 1) == ord("/") else self._start_tag(i)
        if self.nested:
            raise ApiError.parse_entities(f"Can't find end tag corresponding to start tag {self.nested[-1].tag}")
        for entity in self.entities:
            if entity.type == "code":
                entity.language = None
        return self.out.decode("utf-8"), sort_entities(self.entities)

    def _start_tag(self, begin: int) -> int:
        text = self.text
        i = begin + 1
        while not text.is_space(i) and text.at(i) != ord(">"):
            i += 1
        if text.at(i) == 0:
            raise ApiError.parse_entities(f"Unclosed start tag at byte offset {begin}")
        tag = text.slice(begin + 1, i).lower()
        if tag not in _ALLOWED_TAGS:
            raise ApiError.parse_entities(f'Unsupported start tag "{tag}" at byte offset {begin}')
        argument = ""
        while text.at(i) != ord(">"):
            while text.at(i) != 0 and text.is_space(i):
                i += 1
            if text.at(i) == ord(">"):
                break
            name_begin = i
            while not text.is_space(i) and text.at(i) not in (ord("="), ord(">")):
                i += 1
            name = text.slice(name_begin, i)
            if not name:
                raise ApiError.parse_entities(f'Empty attribute name in the tag "{tag}" at byte offset {begin}')
            while text.at(i) != 0 and text.is_space(i):
                i += 1
            if text.at(i) != ord("="):
                if tag == "blockquote" and name == "expandable":
                    argument = "1"
                    continue
                raise ApiError.parse_entities(
                    f'Expected equal sign in declaration of an attribute of the tag "{tag}" at byte offset {begin}'
                )
            i += 1
            while text.at(i) != 0 and text.is_space(i):
                i += 1
            if text.at(i) == 0:
                raise ApiError.parse_entities(f'Unclosed start tag "{tag}" at byte offset {begin}')
            value, i = self._attribute_value(i)
            if text.at(i) == 0:
                raise ApiError.parse_entities(f"Unclosed start tag at byte offset {begin}")
            argument = _argument(tag, name, value, argument)
        if tag == "span" and argument != "spoiler":
            raise ApiError.parse_entities(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
        self.nested.append(_Open(tag, argument, self.utf16, len(self.out)))
        return i + 1

    def _attribute_value(self, i: int) -> tuple[str, int]:
        text = self.text
        if text.at(i) not in (ord("'"), ord('"')):
            token_begin = i
            while chr(text.at(i)).isascii() and (chr(text.at(i)).isalnum() or text.at(i) in b".-"):
                i += 1
            if not text.is_space(i) and text.at(i) != ord(">"):
                raise ApiError.parse_entities(f"Unexpected end of name token at byte offset {token_begin}")
            return text.slice(token_begin, i).lower(), i
        quote = text.at(i)
        i += 1
        value = bytearray()
        while text.at(i) != quote and text.at(i) != 0:
            if text.at(i) == ord("&"):
                code, after = decode_entity(text, i)
                if code:
                    value += chr(code).encode("utf-8", "surrogatepass")
                    i = after
                    continue
            value.append(text.at(i))
            i += 1
        if text.at(i) == quote:
            i += 1
        return value.decode("utf-8", "replace"), i

    def _end_tag(self, begin: int) -> int:
        text = self.text
        if not self.nested:
            raise ApiError.parse_entities(f"Unexpected end tag at byte offset {begin}")
        i = begin + 2
        while not text.is_space(i) and text.at(i) != ord(">"):
            i += 1
        end_tag = text.slice(begin + 2, i).lower()
        while text.is_space(i) and text.at(i) != 0:
            i += 1
        if text.at(i) != ord(">"):
            raise ApiError.parse_entities(f"Unclosed end tag at byte offset {begin}")
        opened = self.nested[-1]
        if end_tag and end_tag != opened.tag:
            raise ApiError.parse_entities(
                f'Unmatched end tag at byte offset {begin}, expected "</{opened.tag}>", found "</{end_tag}>"'
            )
        if self.utf16 > opened.offset:
            self._close(opened)
        self.nested.pop()
        return i + 1

    def _close(self, opened: _Open) -> None:
        offset, length = opened.offset, self.utf16 - opened.offset
        last = self.entities[-1] if self.entities else None
        same_span = last is not None and last.offset == offset and last.length == length
        if opened.tag in _SIMPLE or (opened.tag == "span" and opened.argument == "spoiler"):
            self.entities.append(Entity(_SIMPLE.get(opened.tag, "spoiler"), offset, length))
        elif opened.tag == "tg-emoji":
            if not opened.argument.isdigit() or int(opened.argument) == 0:
                raise ApiError.parse_entities("Invalid custom emoji identifier specified")
            self.entities.append(Entity("custom_emoji", offset, length, custom_emoji_id=opened.argument))
        elif opened.tag == "a":
            url = opened.argument or self.out[opened.begin :].decode("utf-8", "replace")
            user_id = user_id_of_link(url)
            if user_id is not None:
                user = {"id": user_id, "is_bot": False, "first_name": ""}
                self.entities.append(Entity("text_mention", offset, length, user=user))
            elif (link := checked_link(url)) is not None:
                self.entities.append(Entity("text_link", offset, length, url=link))
        elif opened.tag == "pre":
            if same_span and last is not None and last.type == "code" and last.language:
                last.type = "pre"
            else:
                self.entities.append(Entity("pre", offset, length))
        elif opened.tag == "code":
            if same_span and last is not None and last.type == "pre" and opened.argument:
                last.language = opened.argument
            else:
                self.entities.append(Entity("code", offset, length, language=opened.argument or None))
        elif opened.tag == "blockquote":
            kind = "expandable_blockquote" if opened.argument else "blockquote"
            self.entities.append(Entity(kind, offset, length))


def _argument(tag: str, name: str, value: str, current: str) -> str:
    if tag == "a" and name == "href":
        return value
    if tag == "code" and name == "class" and value.startswith("language-"):
        return value[len("language-") :]
    if tag == "span" and name == "class" and value.startswith("tg-"):
        return value[len("tg-") :]
    if tag == "tg-emoji" and name == "emoji-id":
        return value
    if tag == "blockquote" and name == "expandable":
        return "1"
    return current


def parse_html(source: str, *, strict_ampersand: bool = True) -> tuple[str, list[Entity]]:
    """The plain text and entities of ``source``, or ``ApiError`` "can't parse entities: ..."."""
    return HtmlParser(source, strict_ampersand=strict_ampersand).parse()
