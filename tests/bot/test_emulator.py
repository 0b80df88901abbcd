"""The Bot API emulator, driven by the real python-telegram-bot ``Bot`` over loopback HTTP (and raw httpx where PTB
checks arguments itself). Error texts are asserted exactly as the emulator recorded them; PTB's exception type and
message are asserted too."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dtm
import functools
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web
from telegram import Bot as PTBBot
from telegram import (
    BotCommand,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
)
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.request import HTTPXRequest

from bot.emulator import (
    DROPPED,
    SECRET_HEADER,
    BotAPIEmulator,
    EmulatedUser,
    EmulatorOptions,
    Fault,
    Faults,
    FloodLimits,
)
from bot.emulator.errors import MESSAGE_NOT_MODIFIED

TOKEN = "123456:TEST"
MIB = 1024 * 1024


@pytest.fixture(autouse=True)
def _retry_after_as_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22 warns when RetryAfter.retry_after is read as an int; the project turns warnings into errors
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def emu() -> AsyncIterator[BotAPIEmulator]:
    async with BotAPIEmulator(TOKEN) as emulator:
        yield emulator


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One default context for every client: loading the CA store costs ~30 ms per httpx client."""
    return ssl.create_default_context()


def ptb_request() -> HTTPXRequest:
    return HTTPXRequest(httpx_kwargs={"verify": shared_ssl_context()})


@contextlib.asynccontextmanager
async def ptb(emulator: BotAPIEmulator, token: str | None = None) -> AsyncIterator[PTBBot]:
    """The real python-telegram-bot ``Bot`` (HTTPXRequest, as in production) pointed at the emulator."""
    async with PTBBot(
        token or emulator.token,
        base_url=emulator.base_url,
        base_file_url=emulator.file_url,
        request=ptb_request(),
        get_updates_request=ptb_request(),
    ) as bot:
        yield bot


@pytest.fixture
async def bot(emu: BotAPIEmulator) -> AsyncIterator[PTBBot]:
    async with ptb(emu) as client:
        yield client


@pytest.fixture
async def http(emu: BotAPIEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emu.root_url, verify=shared_ssl_context()) as client:
        yield client


@pytest.fixture
async def alice(emu: BotAPIEmulator) -> EmulatedUser:
    """A user who has written to the bot (so the bot may write back)."""
    user = emu.user(1001, "Alice")
    await user.send_command("/start")
    return user


def last_description(emulator: BotAPIEmulator) -> str | None:
    return emulator.calls[-1].description


async def eventually(check: Callable[[], object], timeout_s: float = 5.0) -> None:
    """Wait until ``check()`` is truthy (for state outside the emulator, e.g. a webhook receiver's)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.01)


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(f"{n} ⭐", callback_data=d) for n, d in enumerate(data, 1)]])


# --- basics --------------------------------------------------------------------------------------------------


async def test_get_me_answers_with_the_bot_user(bot: PTBBot) -> None:
    me = await bot.get_me()

    assert (me.id, me.is_bot, me.username) == (123456, True, "bhiv_test_bot")


async def test_wrong_token_is_401_unknown_method_404_and_method_names_ignore_case(
    emu: BotAPIEmulator, http: httpx.AsyncClient
) -> None:
    with pytest.raises(InvalidToken):
        async with ptb(emu, "999:WRONG"):
            pass
    unauthorized = await http.post("/bot999:WRONG/getMe")
    unknown = await http.post(f"/bot{TOKEN}/sendPoll")
    lower_case = await http.get(f"/bot{TOKEN}/getme")

    assert (unauthorized.status_code, unauthorized.json()) == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    assert (unknown.status_code, unknown.json()["description"]) == (404, "Not Found")
    assert lower_case.json()["result"]["username"] == "bhiv_test_bot"


async def test_json_form_and_query_string_requests_are_all_understood(
    emu: BotAPIEmulator, http: httpx.AsyncClient, alice: EmulatedUser
) -> None:
    url = f"/bot{TOKEN}/sendMessage"
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    as_json = await http.post(url, json={"chat_id": 1001, "text": "json", "reply_markup": markup})
    as_form = await http.post(url, data={"chat_id": "1001", "text": "form", "disable_notification": "true"})
    as_query = await http.get(url, params={"chat_id": "1001", "text": "query"})

    assert [r.status_code for r in (as_json, as_form, as_query)] == [200, 200, 200]
    assert [m.text for m in alice.chat.bot_messages] == ["json", "form", "query"]
    assert alice.chat.bot_messages[0].reply_markup == markup


# --- formatted text --------------------------------------------------------------------------------------------


async def test_html_becomes_text_with_utf16_entities(bot: PTBBot, alice: EmulatedUser) -> None:
    html = (
        '😀 <b>bold</b> <a href="https://example.org/x?a=1&amp;b=2">link</a> <code>job-1</code> '
        '<pre><code class="language-python">print(1)</code></pre> <span class="tg-spoiler">s</span> '
        "<blockquote expandable>quote</blockquote> &lt;raw&gt; &amp; &quot;q&quot; &#x41;&#66;"
    )
    sent = await bot.send_message(1001, html, parse_mode="HTML")

    assert sent.text == '😀 bold link job-1 print(1) s quote <raw> & "q" AB'
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [
        (MessageEntity.BOLD, 3, 4),
        (MessageEntity.TEXT_LINK, 8, 4),
        (MessageEntity.CODE, 13, 5),
        (MessageEntity.PRE, 19, 8),
        (MessageEntity.SPOILER, 28, 1),
        (MessageEntity.EXPANDABLE_BLOCKQUOTE, 30, 5),
    ]
    assert sent.entities[1].url == "https://example.org/x?a=1&b=2"
    assert sent.entities[3].language == "python"
    assert alice.chat.last_bot_message().entity_texts("code") == ["job-1"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("a <foo> b", 'Unsupported start tag "foo" at byte offset 2'),
        ("é <br> x", 'Unsupported start tag "br" at byte offset 3'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("<b>bold", "Can't find end tag corresponding to start tag b"),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<b", "Unclosed start tag at byte offset 0"),
        ("fish & chips", 'Character "&" at byte offset 5 must be escaped as "&amp;"'),
        ("a&nbsp;b", 'Character "&" at byte offset 1 must be escaped as "&amp;"'),
    ],
)
async def test_html_telegram_rejects_fails_with_its_words(
    emu: BotAPIEmulator, bot: PTBBot, alice: EmulatedUser, html: str, reason: str
) -> None:
    with pytest.raises(BadRequest, match=r"^Can't parse entities"):
        await bot.send_message(1001, html, parse_mode="HTML")

    assert last_description(emu) == f"Bad Request: can't parse entities: {reason}"
    assert alice.chat.bot_messages == []


async def test_markdown_v2_demands_escapes_and_parses_entities(
    emu: BotAPIEmulator, bot: PTBBot, alice: EmulatedUser
) -> None:
    with pytest.raises(BadRequest):
        await bot.send_message(1001, "Done. Thanks!", parse_mode="MarkdownV2")
    reserved = last_description(emu)
    with pytest.raises(BadRequest):
        await bot.send_message(1001, "*bold", parse_mode="MarkdownV2")
    unclosed = last_description(emu)
    sent = await bot.send_message(
        1001, r"*b* _i_ __u__ ~s~ ||p|| `c` [l](https://t.me/x) done\.", parse_mode="MarkdownV2"
    )

    assert (
        reserved
        == "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'"
    )
    assert unclosed == "Bad Request: can't parse entities: Can't find end of Bold entity at byte offset 0"
    assert sent.text == "b i u s p c l done."
    assert [e.type for e in sent.entities] == [
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "code",
        "text_link",
    ]


async def test_text_limits_count_characters_after_parsing(
    emu: BotAPIEmulator, bot: PTBBot, alice: EmulatedUser
) -> None:
    await bot.send_message(1001, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    await bot.send_message(1001, "😀" * 4096)
    outcomes = []
    for text in ("x" * 4097, "", " \n ", "<b> </b>"):
        with pytest.raises(BadRequest):
            await bot.send_message(1001, text, parse_mode="HTML")
        outcomes.append(last_description(emu))
    trimmed = await bot.send_message(1001, "\n  hi there \n\n")
    with pytest.raises(BadRequest):
        await bot.send_message(1001, "x", parse_mode="Klingon")

    assert outcomes == [
        "Bad Request: message is too long",
        "Bad Request: message text is empty",
        "Bad Request: message must be non-empty",
        "Bad Request: message must be non-empty",
    ]
    assert trimmed.text == "hi there"
    assert last_description(emu) == "Bad Request: unsupported parse_mode"


async def test_explicit_entities_and_text_mentions(emu: BotAPIEmulator, bot: PTBBot, alice: EmulatedUser) -> None:
    bold = await bot.send_message(1001, "hi there", entities=[MessageEntity(MessageEntity.BOLD, 3, 5)])
    mention = await bot.send_message(1001, '<a href="tg://user?id=1001">you</a>', parse_mode="HTML")
    with pytest.raises(BadRequest):
        await bot.send_message(1001, "short", entities=[MessageEntity(MessageEntity.BOLD, 2, 10)])

    assert [(e.type, e.offset, e.length) for e in bold.entities] == [(MessageEntity.BOLD, 3, 5)]
    assert mention.entities[0].user is not None and mention.entities[0].user.first_name == "Alice"
    assert last_description(emu) == (
        "Bad Request: entity beginning at UTF-16 offset 2 ends after the end of the text at UTF-16 offset 12"
    )


# --- keyboards ------------------------------------------------------------------------------------------------


async def test_callback_data_is_limited_to_64_bytes(emu: BotAPIEmulator, bot: PTBBot, alice: EmulatedUser) -> None:
    await bot.send_message(1001, "ok", reply_markup=keyboard("é" * 32))
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(1001, "too long", reply_markup=keyboard("é" * 32 + "x"))

    assert last_description(emu) == "Bad Request: BUTTON_DATA_INVALID"
    assert len(alice.chat.bot_messages) == 1


@pytest.mark.parametrize(
    ("markup", "description"),
    [
        (
            '{"inline_keyboard": [[{"text": "A", "callback_data": ""}]]}',
            "Bad Request: can't parse InlineKeyboardButton: Text buttons are not allowed in the inline keyboard",
        ),
        ('{"inline_keyboard": [[{"text": "", "callback_data": "a"}]]}', "Bad Request: BUTTON_TEXT_INVALID"),
        ('{"inline_keyboard": [[{"text": "A", "url": "not a url"}]]}', "Bad Request: BUTTON_URL_INVALID"),
        (
            '{"inline_keyboard": [{"text": "A"}]}',
            'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays',
        ),
        ("{not json", "Bad Request: can't parse reply keyboard markup JSON object"),
        ("[1]", "Bad Request: object expected as reply markup"),
    ],
)
async def test_bad_reply_markup_is_refused(
    emu: BotAPIEmulator, http: httpx.AsyncClient, alice: EmulatedUser, markup: str, description: str
) -> None:
    response = await http.post(
        f"/bot{TOKEN}/sendMessage", data={"chat_id": "1001", "text": "x", "reply_markup": markup}
    )

    assert (response.status_code, response.json()["description"]) == (400, description)


async def test_reply_keyboards_are_accepted_but_messages_show_only_inline_ones(
    bot: PTBBot, alice: EmulatedUser
) -> None:
    shown = await bot.send_message(1001, "pick", reply_markup=ReplyKeyboardMarkup([["a", "b"]]))
    removed = await bot.send_message(1001, "gone", reply_markup=ReplyKeyboardRemove())

    assert shown.reply_markup is None and removed.reply_markup is None
    assert alice.chat.message(shown.message_id).other_markup == {"keyboard": [[{"text": "a"}, {"text": "b"}]]}
    assert alice.chat.message(removed.message_id).other_markup == {"remove_keyboard": True}


# --- editing --------------------------------------------------------------------------------------------------


async def test_edits_keep_history_and_an_identical_edit_is_not_modified(
    emu: BotAPIEmulator, bot: PTBBot, alice: EmulatedUser
) -> None:
    sent = await bot.send_message(1001, "Working on <code>j1</code>", parse_mode="HTML", reply_markup=keyboard("a"))
    await bot.edit_message_text(
        "Done <code>j1</code>", 1001, sent.message_id, parse_mode="HTML", reply_markup=keyboard("a")
    )
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text(
            "Done <code>j1</code>", 1001, sent.message_id, parse_mode="HTML", reply_markup=keyboard("a")
        )
    not_modified = last_description(emu)
    without_markup = await bot.edit_message_text("Done <code>j1</code>", 1001, sent.message_id, parse_mode="HTML")
    with_markup = await bot.edit_message_reply_markup(1001, sent.message_id, reply_markup=keyboard("b", "c"))
    with pytest.raises(BadRequest):
        await bot.edit_message_reply_markup(1001, sent.message_id, reply_markup=keyboard("b", "c"))

    message = alice.chat.message(sent.message_id)
    assert not_modified == (
        "Bad Request: message is not modified: specified new message content and reply markup are exactly the same "
        "as a current content and reply markup of the message"
    )
    assert isinstance(without_markup, Message) and isinstance(with_markup, Message)
    assert without_markup.reply_markup is None  # editing text without reply_markup drops the keyboard
    assert with_markup.edit_date is not None and message.callback_data == ["b", "c"]
    assert [version.text for version in message.history] == ["Working on j1", "Done j1", "Done j1"]
    assert message.history[0].reply_markup == {"inline_keyboard": [[{"text": "1 ⭐", "callback_data": "a"}]]}


async def test_edit_errors_use_telegram_texts(emu: BotAPIEmulator, bot: PTBBot, alice: EmulatedUser) -> None:
    document = await bot.send_document(1001, b"data", filename="a.json")
    user_message = alice.chat.transcript[0]
    attempts = [
        bot.edit_message_text("x", 1001, 999),
        bot.edit_message_text("x", 1001, user_message.message_id),
        bot.edit_message_text("x", 1001, document.message_id),
        bot.edit_message_text("x", 1001, document.message_id + 100, reply_markup=ForceReply()),  # type: ignore[arg-type]
        bot.edit_message_text("x", 4242, 1),
    ]
    descriptions = []
    for attempt in attempts:
        with pytest.raises(BadRequest):
            await attempt
        descriptions.append(last_description(emu))

    assert descriptions == [
        "Bad Request: message to edit not found",
        "Bad Request: message can't be edited",
        "Bad Request: there is no text in the message to edit",
        "Bad Request: inline keyboard expected",
        "Bad Request: chat not found",
    ]


# --- replies, chats and users -------------------------------------------------------------------------------


async def test_replies_need_an_existing_message_unless_allowed_without(
    emu: BotAPIEmulator, bot: PTBBot, alice: EmulatedUser
) -> None:
    start = alice.chat.transcript[0]
    reply = await bot.send_message(1001, "ack", reply_parameters=ReplyParameters(start.message_id))
    with pytest.raises(BadRequest, match="Message to be replied not found"):
        await bot.send_message(1001, "x", reply_parameters=ReplyParameters(999))
    missing = last_description(emu)
    allowed = await bot.send_message(1001, "y", reply_parameters=ReplyParameters(999, allow_sending_without_reply=True))
    legacy = await bot.send_message(1001, "z", reply_to_message_id=start.message_id)

    assert reply.reply_to_message is not None and reply.reply_to_message.text == "/start"
    assert missing == "Bad Request: message to be replied not found"
    assert allowed.reply_to_message is None
    assert legacy.reply_to_message is not None and alice.chat.message(legacy.message_id).reply_to is start


async def test_unknown_chats_strangers_and_blocking(emu: BotAPIEmulator, bot: PTBBot, alice: EmulatedUser) -> None:
    stranger = emu.user(1002, "Stranger")  # never wrote to the bot
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(4242, "x")
    with pytest.raises(Forbidden, match="bot can't initiate conversation with a user"):
        await bot.send_message(stranger.id, "x")
    alice.block_bot()
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(1001, "x")
    blocked = last_description(emu)
    with pytest.raises(Forbidden):
        await bot.send_chat_action(1001, "typing")
    alice.unblock_bot()
    await bot.send_message(1001, "welcome back")

    updates = await bot.get_updates()
    assert blocked == "Forbidden: bot was blocked by the user"
    assert [u.my_chat_member.new_chat_member.status for u in updates if u.my_chat_member] == ["kicked", "member"]
    assert [m.text for m in alice.chat.bot_messages] == ["welcome back"]


async def test_users_send_every_kind_of_message_and_ptb_parses_the_updates(
    emu: BotAPIEmulator, bot: PTBBot, alice: EmulatedUser
) -> None:
    prompt = await bot.send_message(1001, "What should change?", reply_markup=ForceReply())
    await alice.reply(prompt.message_id, "Slower")
    await alice.send_photo(caption="a photo")
    await alice.send_sticker()
    await alice.send_voice(duration_s=2)
    group = emu.group(-100123, "Team")
    await alice.send_text("hi all #team", chat_id=group.id)

    updates = await bot.get_updates()
    messages = [u.message for u in updates if u.message]
    assert messages[0].text == "/start" and messages[0].entities[0].type == MessageEntity.BOT_COMMAND
    assert messages[1].reply_to_message is not None and messages[1].reply_to_message.message_id == prompt.message_id
    assert messages[2].photo and messages[2].caption == "a photo"
    assert messages[3].sticker is not None and messages[4].voice is not None
    assert messages[5].chat.type == "group" and messages[5].entities[0].type == MessageEntity.HASHTAG
    assert alice.chat.message(prompt.message_id).force_reply


async def test_a_long_paste_arrives_in_parts_like_a_client_sends_it(alice: EmulatedUser) -> None:
    with pytest.raises(ValueError, match="send_long_text"):
        await alice.send_text("x" * 4097)
    parts = await alice.send_long_text("x" * 5000)

    assert [len(part.text or "") for part in parts] == [4096, 904]


# --- callback queries -------------------------------------------------------------------------------------------


async def test_a_press_is_answered_once(emu: BotAPIEmulator, bot: PTBBot, alice: EmulatedUser) -> None:
    result = await bot.send_message(1001, "Rate it", reply_markup=keyboard("r:1", "r:2"))
    with pytest.raises(ValueError, match="no button"):
        await alice.press(result.message_id, "r:9")
    pending = await alice.press(result.message_id, "r:2")
    query = (await bot.get_updates())[-1].callback_query
    assert query is not None and query.data == "r:2" and query.message.message_id == result.message_id  # type: ignore[union-attr]
    with pytest.raises(BadRequest, match="Message_too_long"):
        await bot.answer_callback_query(query.id, text="x" * 201)
    await bot.answer_callback_query(query.id, text="Thanks for 2 ⭐", show_alert=True)
    errors = []
    for query_id in (query.id, "12345"):
        with pytest.raises(BadRequest, match="Query is too old"):
            await bot.answer_callback_query(query_id)
        errors.append(last_description(emu))

    answer = await pending.wait(timeout_s=1)
    assert (answer.text, answer.show_alert) == ("Thanks for 2 ⭐", True)
    assert errors == ["Bad Request: query is too old and response timeout expired or query ID is invalid"] * 2


async def test_a_late_answer_is_too_old() -> None:
    async with BotAPIEmulator(TOKEN, options=EmulatorOptions(callback_query_timeout_s=0.0)) as emulator:
        alice = emulator.user(1001)
        await alice.send_text("hi")
        async with ptb(emulator) as bot:
            sent = await bot.send_message(1001, "x", reply_markup=keyboard("a"))
            await alice.press(sent.message_id, "a")
            query_id = (await bot.get_updates())[-1].callback_query.id  # type: ignore[union-attr]
            await asyncio.sleep(0.01)
            with pytest.raises(BadRequest, match="Query is too old"):
                await bot.answer_callback_query(query_id)


# --- files ------------------------------------------------------------------------------------------------------


async def test_bot_uploads_a_document_and_it_downloads_back(
    emu: BotAPIEmulator, bot: PTBBot, alice: EmulatedUser
) -> None:
    payload = b'{"version": "1.0"}'
    sent = await bot.send_document(1001, payload, filename="storyboard.json", caption="<b>v1</b>", parse_mode="HTML")
    again = await bot.send_document(1001, sent.document.file_id)  # type: ignore[union-attr]
    downloaded = await (await bot.get_file(sent.document.file_id)).download_as_bytearray()  # type: ignore[union-attr]
    with pytest.raises(BadRequest):
        await bot.send_document(1001, "no-such-file-id")
    wrong_id = last_description(emu)
    with pytest.raises(BadRequest):
        await bot.send_document(1001, b"x", caption="c" * 1025)

    document = alice.chat.message(sent.message_id).document
    assert document is not None and document == sent.document.to_dict()  # type: ignore[union-attr]
    assert (document["file_name"], document["mime_type"], document["file_size"]) == (
        "storyboard.json",
        "application/json",
        len(payload),
    )
    assert sent.caption == "v1" and sent.caption_entities[0].type == MessageEntity.BOLD
    assert again.document.file_id == sent.document.file_id  # type: ignore[union-attr]
    assert bytes(downloaded) == payload
    assert wrong_id == "Bad Request: wrong file identifier/HTTP URL specified"
    assert last_description(emu) == "Bad Request: message caption is too long"


async def test_bot_sends_a_video_with_caption_and_keyboard_then_edits_the_caption_and_deletes_it(
    emu: BotAPIEmulator, bot: PTBBot, alice: EmulatedUser
) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("1", callback_data="rate:1")]])
    sent = await bot.send_video(
        1001,
        b"\x00\x00\x00\x18ftypmp42 not really a video",
        filename="storyboard.mp4",
        duration=26,
        width=1280,
        height=720,
        thumbnail=b"\xff\xd8 a jpeg",
        supports_streaming=True,
        caption="<b>Job</b> abc",
        parse_mode="HTML",
        reply_markup=keyboard,
    )
    recorded = emu.calls_to("sendVideo")[-1].params
    edited = await bot.edit_message_caption(1001, sent.message_id, caption="Job abc, rated", reply_markup=keyboard)
    with pytest.raises(BadRequest):
        await bot.edit_message_caption(1001, sent.message_id, caption="Job abc, rated", reply_markup=keyboard)
    not_modified = last_description(emu)
    text_message = await bot.send_message(1001, "plain")
    with pytest.raises(BadRequest):
        await bot.edit_message_caption(1001, text_message.message_id, caption="x")
    no_caption = last_description(emu)
    await bot.delete_message(1001, sent.message_id)
    with pytest.raises(BadRequest):
        await bot.delete_message(1001, sent.message_id)
    gone = last_description(emu)

    assert sent.video is not None
    assert (sent.video.duration, sent.video.width, sent.video.height) == (dtm.timedelta(seconds=26), 1280, 720)
    assert sent.video.mime_type == "video/mp4" and sent.video.file_name == "storyboard.mp4"
    assert sent.video.thumbnail is not None
    assert sent.caption == "Job abc" and sent.caption_entities[0].type == MessageEntity.BOLD
    assert sent.reply_markup == keyboard
    assert recorded["supports_streaming"] == "true"
    assert edited.caption == "Job abc, rated"  # type: ignore[union-attr]
    assert not_modified == f"Bad Request: {MESSAGE_NOT_MODIFIED}"
    assert no_caption == "Bad Request: there is no caption in the message to edit"
    assert gone == "Bad Request: message to delete not found"
    assert sent.message_id not in {m.message_id for m in alice.chat.transcript}


async def test_an_upload_over_50_mb_is_refused_as_telegram_does(
    emu: BotAPIEmulator, bot: PTBBot, alice: EmulatedUser
) -> None:
    with pytest.raises(TelegramError):
        await bot.send_video(1001, b"\x00" * (50 * 1024 * 1024 + 1), filename="big.mp4")

    assert emu.calls_to("sendVideo")[-1].status == 413


async def test_user_documents_download_up_to_20_mb(emu: BotAPIEmulator, bot: PTBBot, alice: EmulatedUser) -> None:
    await alice.send_document(b"INT. KITCHEN\nRain.", file_name="s.txt", mime_type="text/plain")
    await alice.send_document(file_name="big.txt", declared_size=25 * MIB)
    small, big = [u.message.document for u in await bot.get_updates() if u.message and u.message.document]

    content = await (await bot.get_file(small.file_id)).download_as_bytearray()
    with pytest.raises(BadRequest, match="File is too big"):
        await bot.get_file(big.file_id)

    assert bytes(content) == b"INT. KITCHEN\nRain."
    assert big.file_size == 25 * MIB
    assert last_description(emu) == "Bad Request: file is too big"


async def test_an_upload_over_50_mb_is_413_and_stores_nothing(
    emu: BotAPIEmulator, bot: PTBBot, alice: EmulatedUser
) -> None:
    with pytest.raises(NetworkError, match="Request Entity Too Large"):
        await bot.send_document(1001, bytes(50 * MIB + 1), filename="huge.bin")

    assert (emu.calls[-1].status, last_description(emu)) == (413, "Request Entity Too Large")
    assert alice.chat.bot_messages == []
    assert emu.state.files == {}


# --- other methods ----------------------------------------------------------------------------------------------


async def test_chat_actions_are_seen_and_checked(emu: BotAPIEmulator, bot: PTBBot, alice: EmulatedUser) -> None:
    await bot.send_chat_action(1001, "typing")
    with pytest.raises(BadRequest):
        await bot.send_chat_action(1001, "dancing")

    assert alice.chat.actions == ["typing"]
    assert last_description(emu) == "Bad Request: wrong parameter action in request"


@pytest.mark.parametrize(
    ("command", "description", "error"),
    [
        ("Start", "Begin", "Bad Request: BOT_COMMAND_INVALID"),
        ("with-dash", "Begin", "Bad Request: BOT_COMMAND_INVALID"),
        (" ", "Begin", "Bad Request: command must be non-empty"),
        ("c" * 33, "Begin", "Bad Request: command length must not exceed 32"),
        ("start", " ", "Bad Request: command description must be non-empty"),
        ("start", "d" * 257, "Bad Request: command description length must not exceed 256"),
    ],
)
async def test_bad_commands_are_refused(
    emu: BotAPIEmulator, bot: PTBBot, command: str, description: str, error: str
) -> None:
    with pytest.raises(BadRequest):
        await bot.set_my_commands([BotCommand(command, description)])

    assert last_description(emu) == error


async def test_commands_are_set_read_and_deleted(bot: PTBBot) -> None:
    await bot.set_my_commands([BotCommand("status", "Status of a job"), BotCommand("/jobs", "Your recent jobs")])
    stored = await bot.get_my_commands()
    await bot.delete_my_commands()

    assert [(c.command, c.description) for c in stored] == [("status", "Status of a job"), ("jobs", "Your recent jobs")]
    assert await bot.get_my_commands() == ()


# --- getUpdates ------------------------------------------------------------------------------------------------


async def test_offset_confirms_updates_and_limit_caps_them(bot: PTBBot, alice: EmulatedUser) -> None:
    for text in ("one", "two", "three"):
        await alice.send_text(text)

    first_two = await bot.get_updates(limit=2)
    unconfirmed = await bot.get_updates(limit=2)
    rest = await bot.get_updates(offset=first_two[-1].update_id + 1)
    last_only = await bot.get_updates(offset=-1)
    after_all = await bot.get_updates(offset=rest[-1].update_id + 1)

    assert [u.message.text for u in first_two] == ["/start", "one"]  # type: ignore[union-attr]
    assert [u.update_id for u in unconfirmed] == [u.update_id for u in first_two]
    assert [u.message.text for u in rest] == ["two", "three"]  # type: ignore[union-attr]
    assert [u.message.text for u in last_only] == ["three"]  # type: ignore[union-attr]
    assert after_all == ()


async def test_long_poll_returns_as_soon_as_an_update_arrives(bot: PTBBot, alice: EmulatedUser) -> None:
    await bot.get_updates(offset=-1)
    offset = (await bot.get_updates())[-1].update_id + 1
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(offset=offset, timeout=10))
    await asyncio.sleep(0.1)
    await alice.send_text("ping")
    updates = await poll

    assert [u.message.text for u in updates] == ["ping"]  # type: ignore[union-attr]
    assert time.monotonic() - started < 5


async def test_an_overlapping_poll_ends_the_older_one_with_409(emu: BotAPIEmulator, alice: EmulatedUser) -> None:
    async with ptb(emu) as first, ptb(emu) as second:
        offset = (await first.get_updates())[-1].update_id + 1
        older = asyncio.create_task(first.get_updates(offset=offset, timeout=10))
        await asyncio.sleep(0.1)
        newer = asyncio.create_task(second.get_updates(offset=offset, timeout=10))
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await older
        await alice.send_text("still polled")
        updates = await newer

    assert [call.description for call in emu.errors((409, 409))] == [
        "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
    ]
    assert [u.message.text for u in updates] == ["still polled"]  # type: ignore[union-attr]


async def test_allowed_updates_filters_what_is_queued_next(bot: PTBBot, alice: EmulatedUser) -> None:
    sent = await bot.send_message(1001, "rate", reply_markup=keyboard("a"))
    await bot.get_updates(offset=-1, allowed_updates=["callback_query"])
    await alice.send_text("ignored")
    await alice.press(sent.message_id, "a")

    updates = await bot.get_updates()
    assert [u.callback_query is not None for u in updates] == [False, True]  # the /start kept by offset=-1
    assert updates[0].message.text == "/start"  # type: ignore[union-attr]


async def test_resent_update_carries_the_same_payload(emu: BotAPIEmulator, bot: PTBBot, alice: EmulatedUser) -> None:
    first = (await bot.get_updates())[-1]
    offset = first.update_id + 1
    await bot.get_updates(offset=offset)
    new_id = emu.resend_update(first.update_id)
    again = await bot.get_updates(offset=offset)

    assert new_id == again[0].update_id and again[0].message.message_id == first.message.message_id  # type: ignore[union-attr]
    assert emu.resend_update(first.update_id, same_id=True) == first.update_id


# --- webhooks ------------------------------------------------------------------------------------------------------


@dataclass
class Receiver:
    statuses: list[int]
    reply: dict[str, Any] | None = None
    received: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.received.append((request.headers.get(SECRET_HEADER), await request.json()))
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200 and self.reply is not None:
            return web.json_response(self.reply)
        return web.Response(status=status)


@contextlib.asynccontextmanager
async def webhook_receiver(
    statuses: list[int], reply: dict[str, Any] | None = None, *, port: int = 0
) -> AsyncIterator[Receiver]:
    receiver = Receiver(list(statuses), reply)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    host, port = runner.addresses[0][:2]
    receiver.url = f"http://{host}:{port}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()


async def test_webhook_gets_updates_with_the_secret_and_failures_are_retried(
    emu: BotAPIEmulator, bot: PTBBot, alice: EmulatedUser
) -> None:
    async with webhook_receiver([500, 502]) as receiver:
        assert await bot.set_webhook(receiver.url, secret_token="s3cret_-X", drop_pending_updates=True)
        with pytest.raises(Conflict):
            await bot.get_updates()
        conflict = last_description(emu)
        await alice.send_text("over the webhook")
        await eventually(lambda: len(receiver.received) >= 3)
        info = await bot.get_webhook_info()
        await bot.delete_webhook()
        polled = await bot.get_updates()

    assert [delivery.status for delivery in emu.webhook_deliveries] == [500, 502, 200]
    assert {secret for secret, _ in receiver.received} == {"s3cret_-X"}
    assert receiver.received[-1][1]["message"]["text"] == "over the webhook"
    assert conflict == (
        "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
    )
    assert (info.url, info.pending_update_count) == (receiver.url, 0)
    assert info.last_error_message == "Wrong response from the webhook: 502 Bad Gateway"
    assert polled == ()


async def test_a_webhook_set_before_its_server_listens_gets_the_updates_later(
    emu: BotAPIEmulator, bot: PTBBot, alice: EmulatedUser
) -> None:
    with socket.socket() as probe:  # a port nobody listens on yet, as with PTB's run_webhook
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    await bot.set_webhook(f"http://127.0.0.1:{port}/hook")
    await eventually(lambda: len(emu.webhook_deliveries) >= 2)
    async with webhook_receiver([], port=port) as receiver:
        await eventually(lambda: receiver.received)
        await bot.delete_webhook()

    assert [d.status for d in emu.webhook_deliveries[:2]] == [None, None]
    assert emu.webhook_deliveries[0].error == "Connection refused"
    assert emu.webhook_deliveries[-1].ok and receiver.received[0][1]["message"]["text"] == "/start"


async def test_a_webhook_answer_naming_a_method_is_executed(
    emu: BotAPIEmulator, bot: PTBBot, alice: EmulatedUser
) -> None:
    async with webhook_receiver(
        [], reply={"method": "sendMessage", "chat_id": 1001, "text": "from the reply"}
    ) as receiver:
        await bot.set_webhook(receiver.url)
        reply = await alice.chat.wait_for(lambda m: m.text == "from the reply", timeout_s=5)
        await bot.delete_webhook()

    assert reply.from_bot


@pytest.mark.parametrize(
    ("url", "secret", "description"),
    [
        ("http://127.0.0.1:{port}/hook", "has space", "Bad Request: secret token contains unallowed characters"),
        ("http://127.0.0.1:{port}/hook", "s" * 257, "Bad Request: secret token is too long"),
        ("http://example.org/hook", "", "Bad Request: bad webhook: HTTPS url must be provided for webhook"),
        (
            "https://example.org:1234/hook",
            "",
            "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
        ),
    ],
)
async def test_bad_webhook_settings_are_refused(url: str, secret: str, description: str) -> None:
    options = EmulatorOptions(set_webhook_interval_s=0.0)
    async with (
        BotAPIEmulator(TOKEN, options=options) as emulator,
        webhook_receiver([]) as receiver,
        ptb(emulator) as bot,
    ):
        port = receiver.url.split(":")[2].split("/")[0]
        with pytest.raises(BadRequest):
            await bot.set_webhook(url.format(port=port), secret_token=secret or None)

        assert last_description(emulator) == description
        assert not emulator.webhook.active


async def test_set_webhook_more_than_once_a_second_is_429(emu: BotAPIEmulator, bot: PTBBot) -> None:
    async with webhook_receiver([]) as receiver:
        await bot.set_webhook(receiver.url)
        with pytest.raises(RetryAfter) as raised:
            await bot.set_webhook(receiver.url, secret_token="other")
        await bot.delete_webhook()

    assert raised.value.retry_after == dtm.timedelta(seconds=1)


# --- flood control -----------------------------------------------------------------------------------------------


async def test_flood_limits_per_chat_with_a_burst_and_per_group_per_minute() -> None:
    limits = FloodLimits(global_per_s=None, per_chat_per_s=1, per_chat_burst=3, group_per_min=20, group_burst=20)
    async with BotAPIEmulator(TOKEN, flood_limits=limits) as emulator, ptb(emulator) as bot:
        emulator.flood.clock = lambda: 1000.0  # frozen: no refill between the calls
        alice = emulator.user(1001)
        await alice.send_text("hi")
        group = emulator.group(-100500, "Team")
        for n in range(3):
            await bot.send_message(1001, f"burst {n}")
        with pytest.raises(RetryAfter) as private:
            await bot.send_message(1001, "one too many")
        await bot.send_chat_action(1001, "typing")  # actions are not counted
        for n in range(20):
            await bot.send_message(group.id, f"group {n}")
        with pytest.raises(RetryAfter) as in_group:
            await bot.send_message(group.id, "21st this minute")

        assert private.value.retry_after == dtm.timedelta(seconds=1)
        assert in_group.value.retry_after == dtm.timedelta(seconds=3)
        assert [call.description for call in emulator.rate_limited] == [
            "Too Many Requests: retry after 1",
            "Too Many Requests: retry after 3",
        ]
        assert len(alice.chat.bot_messages) == 3 and len(group.bot_messages) == 20


async def test_flood_limit_across_chats() -> None:
    limits = FloodLimits(global_per_s=2, global_burst=2, per_chat_per_s=None, group_per_min=None)
    async with BotAPIEmulator(TOKEN, flood_limits=limits) as emulator, ptb(emulator) as bot:
        emulator.flood.clock = lambda: 1000.0
        for user_id in (1, 2, 3):
            await emulator.user(user_id).send_text("hi")
        await bot.send_message(1, "a")
        await bot.send_message(2, "b")
        with pytest.raises(RetryAfter):
            await bot.send_message(3, "c")

        assert emulator.rate_limited[0].retry_after == 1


# --- faults ---------------------------------------------------------------------------------------------------------


async def test_injected_faults_take_no_effect(emu: BotAPIEmulator, bot: PTBBot, alice: EmulatedUser) -> None:
    emu.faults.push(
        "sendMessage", Fault.too_many(2), Fault.server_error(), Fault.server_error(body="nginx"), Fault.drop()
    )
    with pytest.raises(RetryAfter) as limited:
        await bot.send_message(1001, "1")
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(1001, "2")
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(1001, "3")
    with pytest.raises(NetworkError):
        await bot.send_message(1001, "4")
    await bot.send_message(1001, "5")

    assert limited.value.retry_after == dtm.timedelta(seconds=2)
    assert [(c.status, c.fault) for c in emu.calls_to("sendMessage")] == [
        (429, "429"),
        (502, "5xx"),
        (502, "5xx"),
        (DROPPED, "drop"),
        (200, None),
    ]
    assert [m.text for m in alice.chat.bot_messages] == ["5"]


async def test_a_lost_response_still_takes_effect(emu: BotAPIEmulator, bot: PTBBot, alice: EmulatedUser) -> None:
    emu.faults.push("sendMessage", Fault.drop_after_effect())
    with pytest.raises(NetworkError):
        await bot.send_message(1001, "sent, but the answer was lost")

    assert [m.text for m in alice.chat.bot_messages] == ["sent, but the answer was lost"]


async def test_random_faults_replay_with_a_seed_and_add_latency(emu: BotAPIEmulator, bot: PTBBot) -> None:
    def draw(seed: int) -> list[str | None]:
        faults = Faults()
        faults.set(methods="*", p_429=0.3, p_5xx=0.3, p_drop=0.1, seed=seed)
        return [(d.fault.kind if d.fault else None) for d in (faults.decide("getMe") for _ in range(40))]

    emu.faults.set(methods={"getMe"}, latency_s=0.2)
    started = time.monotonic()
    await bot.get_me()
    slow_s = time.monotonic() - started
    emu.faults.clear()

    assert draw(1) == draw(1) != draw(2)
    assert {"429", "5xx", "drop", None} <= set(draw(1))
    assert slow_s >= 0.15


# --- the user side over HTTP, and the module as a program ---------------------------------------------------------


async def test_the_user_side_works_over_http(emu: BotAPIEmulator, bot: PTBBot, http: httpx.AsyncClient) -> None:
    assert (await http.get("/_emu/health")).json()["base_url"] == emu.base_url
    await http.post("/_emu/users/2002", json={"first_name": "Zoe"})
    said = (await http.post("/_emu/users/2002/text", json={"text": "Hello\nWorld"})).json()["message"]
    content = base64.b64encode(b"Line one").decode()
    await http.post("/_emu/users/2002/document", json={"file_name": "s.md", "content_base64": content})
    updates = await bot.get_updates()
    sent = await bot.send_message(2002, "Rate", reply_markup=keyboard("r:1"))
    seq = (await http.get("/_emu/chats/2002/transcript")).json()["seq"]
    events = asyncio.create_task(http.get("/_emu/chats/2002/events", params={"after": seq, "timeout_s": 5}))
    await asyncio.sleep(0.05)
    await bot.edit_message_text("Rated", 2002, sent.message_id, reply_markup=keyboard("r:1"))
    edited = (await events).json()["events"]
    press = asyncio.create_task(
        http.post("/_emu/users/2002/press", json={"message_id": sent.message_id, "callback_data": "r:1", "wait_s": 5})
    )
    query = (await bot.get_updates(offset=updates[-1].update_id + 1, timeout=5))[0].callback_query
    await bot.answer_callback_query(query.id, text="Thanks")  # type: ignore[union-attr]
    pressed = (await press).json()
    transcript = (await http.get("/_emu/chats/2002/transcript")).json()["messages"]
    file_bytes = (await http.get(f"/_emu/files/{updates[1].message.document.file_id}")).content  # type: ignore[union-attr]
    calls = (await http.get("/_emu/calls", params={"after": 0})).json()["calls"]
    bad = await http.post("/_emu/users/2002/reply", json={"to_message_id": 999, "text": "x"})

    assert said["text"] == "Hello\nWorld" and updates[0].message.from_user.first_name == "Zoe"  # type: ignore[union-attr]
    assert [(e["kind"], e["data"]["text"]) for e in edited] == [("edit", "Rated")]
    assert pressed["answer"]["text"] == "Thanks"
    assert [m["from_bot"] for m in transcript] == [False, False, True]
    assert transcript[2]["history"][0]["text"] == "Rate"
    assert file_bytes == b"Line one"
    assert [c["method"] for c in calls][-1] == "answerCallbackQuery"
    assert bad.status_code == 400


async def test_faults_and_resends_over_http(emu: BotAPIEmulator, bot: PTBBot, http: httpx.AsyncClient) -> None:
    await http.post("/_emu/users/2003/text", json={"text": "hi"})
    update_id = (await bot.get_updates())[0].update_id
    await http.post("/_emu/faults", json={"methods": ["getMe"], "p_5xx": 1.0})
    with pytest.raises(NetworkError):
        await bot.get_me()
    await http.delete("/_emu/faults")
    resent = (await http.post(f"/_emu/updates/{update_id}/resend", json={})).json()["update_id"]

    assert (await bot.get_me()).username == "bhiv_test_bot"
    assert resent > update_id


async def test_the_emulator_can_stop_and_start_again() -> None:
    emulator = BotAPIEmulator(TOKEN)
    for _ in range(2):
        await emulator.start()
        async with ptb(emulator) as bot:
            poll = asyncio.create_task(bot.get_updates(timeout=5))
            await asyncio.sleep(0.05)
            await emulator.user(1001).send_text("hi")
            assert (await poll)[-1].message.text == "hi"  # type: ignore[union-attr]
            await bot.get_updates(offset=-1)
            await bot.get_updates(offset=(await bot.get_updates())[-1].update_id + 1)
        await emulator.stop()


async def test_wait_for_explains_a_timeout_with_the_transcript(emu: BotAPIEmulator, alice: EmulatedUser) -> None:
    with pytest.raises(TimeoutError, match="#1 user 1001: '/start'"):
        await alice.chat.wait_for(lambda m: True, timeout_s=0.05)


@pytest.fixture
def emulator_process() -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.emulator", "--port", "0", "--token", "42:ABC", "--log-level", "WARNING"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(5)
        if process.stdout is not None:
            process.stdout.close()


async def test_the_module_runs_alone_until_interrupted(emulator_process: subprocess.Popen[str]) -> None:
    assert emulator_process.stdout is not None
    base_url = emulator_process.stdout.readline().strip().removeprefix("TELEGRAM_API_BASE_URL=")
    async with httpx.AsyncClient(verify=shared_ssl_context()) as client:
        me = (await client.get(f"{base_url}42:ABC/getMe")).json()["result"]
    emulator_process.send_signal(signal.SIGINT)

    assert me["id"] == 42
    assert emulator_process.wait(5) == 0


async def test_the_control_routes_refuse_a_cross_origin_form_post(emu: BotAPIEmulator, http: httpx.AsyncClient) -> None:
    form = await http.post("/_emu/users/2004/text", data={"text": "from a web page"})
    plain = await http.post("/_emu/users/2004/text", content=b'{"text": "x"}', headers={"Content-Type": "text/plain"})

    assert (form.status_code, plain.status_code) == (415, 415)
    assert emu.updates == []
