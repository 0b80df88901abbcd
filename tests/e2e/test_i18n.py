"""Users in Russian, Hindi and any other language, over loopback HTTP to the emulator: every reply in theirs."""

from __future__ import annotations

import json

import pytest

from bot.emulator import BotAPIEmulator
from bot.emulator.model import ChatMessage
from bot.emulator.users import EmulatedUser
from tests.e2e.conftest import RunBot, is_ack, is_document, job_id_of

SCRIPT = "INT. KITCHEN - NIGHT\nA kettle <whistles> & the cat jumps.\n\nRain on the window."
DEFAULT_SCOPE = json.dumps({"type": "default"}, sort_keys=True)

pytestmark = pytest.mark.slow


def is_result(message: ChatMessage) -> bool:
    """The result in any language: the message with the five rating buttons."""
    return len(message.callback_data) >= 5


async def _script_round(user: EmulatedUser) -> tuple[ChatMessage, ChatMessage, ChatMessage]:
    await user.send_text(SCRIPT)
    ack = await user.chat.wait_for(is_ack)
    result = await user.chat.wait_for(is_result, timeout_s=10)
    document = await user.chat.wait_for(is_document)
    return ack, result, document


@pytest.mark.parametrize(
    ("language_code", "ack_words", "result_words", "file_words"),
    [
        ("ru", "Сценарий получен. Задание", ("Как получилось? Оцените:", "3 сцены", "Задание"), "Раскадровка в JSON"),
        ("hi", "आपकी स्क्रिप्ट मिल गई। जॉब", ("कैसा बना? रेटिंग दें:", "3 सीन", "संस्करण 1"), "स्टोरीबोर्ड JSON"),
        ("de", "Got your script. Job", ("How did I do? Rate it:", "3 scenes", "version 1"), "Storyboard JSON · job"),
    ],
)
async def test_a_script_is_answered_in_the_users_telegram_language(
    emulator: BotAPIEmulator,
    run_bot: RunBot,
    language_code: str,
    ack_words: str,
    result_words: tuple[str, ...],
    file_words: str,
) -> None:
    user = emulator.user(2001, "Ива", language_code=language_code)
    async with run_bot():
        ack, result, document = await _script_round(user)

    assert ack.text is not None and ack_words in ack.text
    assert ack.reply_to is not None
    body = result.body or ""
    assert all(words in body for words in result_words), body
    assert job_id_of(ack) in body
    assert "A kettle <whistles> & the cat jumps." in body  # the user's text, escaped on the wire, raw on screen
    assert document.caption is not None and file_words in document.caption and job_id_of(ack) in document.caption
    assert emulator.errors((400, 499)) == []


async def test_language_chosen_by_button_is_used_for_commands_and_survives_a_restart(
    emulator: BotAPIEmulator, run_bot: RunBot
) -> None:
    user = emulator.user(2002, "Dan", language_code="en")
    async with run_bot():
        await user.send_command("/language")
        menu = await user.chat.wait_for(lambda m: "l:ru" in m.callback_data)
        assert menu.text is not None and "Which language" in menu.text
        assert [button["text"] for button in menu.buttons][:3] == ["English", "Русский", "हिन्दी"]

        toast = await (await user.press(menu.message_id, "l:ru"))
        assert toast.text == "Хорошо: теперь я говорю с вами по-русски."
        edited = await user.chat.wait_for(
            lambda m: m.message_id == menu.message_id and "На каком языке" in (m.text or "")
        )
        assert "✅ Русский" in [button["text"] for button in edited.buttons]

        mark = user.chat.mark()
        await user.send_command("/jobs")
        jobs = await user.chat.wait_for(lambda m: True, after=mark)
        assert jobs.text == "Заданий пока нет. Пришлите мне сценарий: одна строка — одна сцена."

    async with run_bot():  # a new process reads the choice from the database
        mark = user.chat.mark()
        await user.send_command("/status nosuchjob")
        answer = await user.chat.wait_for(lambda m: True, after=mark)
        assert answer.text is not None and answer.text.startswith("Не нахожу задание nosuchjob")

        ack, result, _ = await _script_round(user)
        assert "Сценарий получен" in (ack.text or "") and "Как получилось?" in (result.body or "")

        toast = await (await user.press(menu.message_id, "l:-"))  # back to Telegram's setting: English
        assert toast.text == "OK: I follow your Telegram app's language again."
        await user.chat.wait_for(lambda m: m.message_id == menu.message_id and "Which language" in (m.text or ""))
        mark = user.chat.mark()
        await user.send_command("/jobs")
        jobs = await user.chat.wait_for(lambda m: True, after=mark)
        assert jobs.text is not None and jobs.text.startswith("Your recent jobs:")
    assert emulator.errors((400, 499)) == []


async def test_language_by_argument_and_a_stale_or_forged_language_button(
    emulator: BotAPIEmulator, run_bot: RunBot
) -> None:
    user = emulator.user(2003, "Eve", language_code="ru")
    async with run_bot():
        mark = user.chat.mark()
        await user.send_command("/language hi")
        said = await user.chat.wait_for(lambda m: True, after=mark)
        mark = user.chat.mark()
        await user.send_command("/language xx")
        refused = await user.chat.wait_for(lambda m: True, after=mark)
        menu_mark = user.chat.mark()
        await user.send_command("/language")
        menu = await user.chat.wait_for(lambda m: "l:hi" in m.callback_data, after=menu_mark)
        forged = await (await user.press(menu.message_id, "l:de", check=False))
        again = await (await user.press(menu.message_id, "l:hi"))  # the same choice again: nothing to redraw

    assert said.text == "ठीक है: अब से मैं आपसे हिन्दी में बात करूँगा।"
    assert refused.text is not None and refused.text.startswith("यह भाषा मुझे नहीं आती।")
    assert "✅ हिन्दी" in [button["text"] for button in menu.buttons]
    assert forged.text == "यह बटन अब काम नहीं करता। नया स्टोरीबोर्ड पाने के लिए स्क्रिप्ट फिर से भेजें।"
    assert again.text == said.text
    assert emulator.errors((400, 499)) == []


async def test_the_command_menu_is_set_in_each_language(emulator: BotAPIEmulator, run_bot: RunBot) -> None:
    async with run_bot():
        pass

    menus = {
        language: commands for (scope, language), commands in emulator.state.commands.items() if scope == DEFAULT_SCOPE
    }
    assert set(menus) == {"", "ru", "hi"}
    assert (
        [c["command"] for c in menus[""]] == [c["command"] for c in menus["ru"]] == [c["command"] for c in menus["hi"]]
    )
    assert "language" in [c["command"] for c in menus[""]]
    described = {language: {c["command"]: c["description"] for c in commands} for language, commands in menus.items()}
    assert described[""]["jobs"] == "your recent jobs"
    assert described["ru"]["jobs"] == "ваши недавние задания"
    assert described["hi"]["jobs"] == "आपकी हाल की जॉब"


async def test_a_failure_and_a_refusal_are_in_the_users_language(emulator: BotAPIEmulator, run_bot: RunBot) -> None:
    user = emulator.user(2004, "Oleg", language_code="ru")
    async with run_bot():
        mark = user.chat.mark()
        await user.send_text(" \n\t\n")
        empty = await user.chat.wait_for(lambda m: True, after=mark)
        mark = user.chat.mark()
        await user.send_photo()
        photo = await user.chat.wait_for(lambda m: True, after=mark)

    assert empty.text == "Сценарий пуст. Пришлите текст: одна строка — одна сцена."
    assert photo.text is not None and photo.text.startswith("Это фото. Пришлите мне сценарий")
