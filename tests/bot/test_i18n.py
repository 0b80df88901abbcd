"""The catalogs: complete, in step with the code, and safe to format; the plural forms and the locale choice."""

from __future__ import annotations

import re
import string
from dataclasses import replace
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.frontend import CommandLineInterface
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po

from bot.i18n import ENGLISH, LOCALES, LOCALES_DIR, po_path, texts_for
from bot.render import (
    CAPTION_BUDGET,
    MAX_CAPTION,
    MAX_MESSAGE,
    render_ack,
    render_failed,
    render_job_list,
    render_prompt,
    render_result,
    render_status,
    visible_length,
)
from bot.texts import minutes
from core.improve import improve
from core.revision import Limit, compare
from core.storyboard import SceneDraft, assemble
from core.types import JobSummary
from tests.fakes.records import make_job, make_version

ROOT = Path(__file__).resolve().parents[2]
TRANSLATED = [locale for locale in LOCALES if locale != "en"]
# The tags Telegram's HTML knows: a "<job id>" in a plain-text usage line is no tag, and may be translated.
_TAG = re.compile(r"</?(b|strong|i|em|u|ins|s|strike|del|a|code|pre|blockquote|tg-spoiler|span)\b[^>]*>")
_EMOJI = re.compile(r"[\u2190-\u2bff\U0001f000-\U0001faff]")


def _read(path: Path) -> Catalog:
    with path.open("rb") as file:
        return read_po(file)


def _messages(catalog: Catalog) -> dict[str, Message]:
    return {_key(m): m for m in catalog if m.id}


def _key(message: Message) -> str:
    return message.id[0] if isinstance(message.id, tuple) else message.id


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def _strings(message: Message) -> list[str]:
    return list(message.string) if isinstance(message.string, tuple) else [message.string]


def _ids(message: Message) -> list[str]:
    return list(message.id) if isinstance(message.id, tuple) else [message.id]


@pytest.fixture(scope="module")
def template() -> dict[str, Message]:
    return _messages(_read(LOCALES_DIR / "messages.pot"))


def test_the_template_is_what_the_code_says_now(tmp_path: Path, template: dict[str, Message]) -> None:
    """A new t("...") without catalog entries fails here: extract again (the README's "Languages")."""
    out = tmp_path / "messages.pot"
    keywords = ["--no-default-keywords", "-k", "t", "-k", "plural:1,2", "-k", "N_"]
    CommandLineInterface().run(
        ["pybabel", "-q", "extract", "-F", str(ROOT / "pyproject.toml"), *keywords, "-o", str(out), str(ROOT)]
    )
    extracted = _messages(_read(out))
    assert sorted(set(extracted) - set(template)) == [], "in the code, not in bot/locales/messages.pot"
    assert sorted(set(template) - set(extracted)) == [], "in bot/locales/messages.pot, gone from the code"
    assert {k: m.id for k, m in extracted.items()} == {k: m.id for k, m in template.items()}


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_message_is_translated_with_the_same_placeholders_tags_and_emoji(
    locale: str, template: dict[str, Message]
) -> None:
    catalog = _read(po_path(locale))
    translated = _messages(catalog)
    assert sorted(set(template) - set(translated)) == [], f"missing in {locale}"
    assert sorted(set(translated) - set(template)) == [], f"obsolete in {locale} (pybabel update)"
    for key, source in template.items():
        message = translated[key]
        assert message.id == source.id, key
        assert not message.fuzzy, f"{locale}: fuzzy {key!r}"
        strings = _strings(message)
        assert all(s.strip() for s in strings), f"{locale}: untranslated {key!r}"
        english = _ids(source)
        expected = set().union(*map(_placeholders, english))
        for text in strings:
            assert _placeholders(text) == expected, f"{locale}: placeholders of {key!r}: {text!r}"
            assert sorted(_TAG.findall(text)) == sorted(_TAG.findall(english[0])), f"{locale}: tags of {key!r}"
            assert sorted(_EMOJI.findall(text)) == sorted(_EMOJI.findall(english[0])), f"{locale}: emoji of {key!r}"
            text.format(**{name: "x" for name in expected})  # formats, with no stray brace


@pytest.mark.parametrize("locale", TRANSLATED)
def test_plural_entries_have_every_cldr_form_of_the_locale(locale: str, template: dict[str, Message]) -> None:
    catalog = _read(po_path(locale))
    # CLDR's integer forms (Russian's "other" is for fractions), as Babel writes them into gettext's header
    assert catalog.num_plurals == get_plural(locale).num_plurals == {"ru": 3, "hi": 2}[locale]
    assert {"ru": {"one", "few", "many"}, "hi": {"one"}}[locale] <= Locale.parse(locale).plural_form.tags
    plurals = [m for m in catalog if m.id and isinstance(m.id, tuple)]
    assert len(plurals) == sum(isinstance(m.id, tuple) for m in template.values()) > 0
    for message in plurals:
        assert len(message.string) == catalog.num_plurals, message.id


def test_russian_scenes_and_minutes_take_their_plural_forms() -> None:
    t = texts_for("ru")
    assert [t.plural("{n} scene", "{n} scenes", n) for n in (1, 2, 5, 11, 21, 22, 25)] == [
        "1 сцена",
        "2 сцены",
        "5 сцен",
        "11 сцен",
        "21 сцена",
        "22 сцены",
        "25 сцен",
    ]
    assert minutes(60, t=t) == "1 минуту" and minutes(180, t=t) == "3 минуты" and minutes(300, t=t) == "5 минут"


def test_hindi_and_english_plurals() -> None:
    assert texts_for("hi").plural("{n} scene", "{n} scenes", 1) == "1 सीन"
    assert ENGLISH.plural("{n} scene", "{n} scenes", 1) == "1 scene"
    assert ENGLISH.plural("{n} scene", "{n} scenes", 0) == "0 scenes"


@pytest.mark.parametrize(
    ("language_code", "locale"),
    [
        ("ru", "ru"),
        ("hi-IN", "hi"),
        ("hi", "hi"),
        ("RU-ru", "ru"),
        ("en-GB", "en"),
        ("de", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_a_telegram_language_code_gets_its_locale_or_english(language_code: str | None, locale: str) -> None:
    assert texts_for(language_code).locale == locale


def test_translations_never_take_the_text_they_are_given_for_a_message() -> None:
    """What a user wrote goes in through a placeholder, after the lookup: it is never looked up itself."""
    t = texts_for("ru")
    assert t("{name} doesn't look like a text file.", name="{job_id} ⏳ Queued") == (
        "Файл {job_id} ⏳ Queued не похож на текстовый."
    )


def test_a_broken_translation_is_said_in_english(caplog: pytest.LogCaptureFixture) -> None:
    import gettext

    from bot.i18n import Texts

    class Broken(gettext.NullTranslations):
        def gettext(self, message: str) -> str:
            return "{nope}"

    assert Texts("ru", Broken())("Job {job_id}", job_id="a") == "Job a"
    assert "does not format" in caplog.text


def test_every_message_fits_telegram_in_every_language(template: dict[str, Message]) -> None:
    """A message alone (filled with long values) stays far under a text's 4096 and, for the short ones, a
    toast's 200 and a caption's 1024."""
    for locale in LOCALES:
        t = texts_for(locale)
        for message in template.values():
            ids = _ids(message)
            params = {name: "x" * 20 for name in set().union(*map(_placeholders, ids))}
            text = t.plural(ids[0], ids[1], 5, **params) if len(ids) == 2 else t(ids[0], **params)
            assert visible_length(text) <= MAX_MESSAGE
            if visible_length(ids[0]) < 100:  # toasts, button labels, captions, status lines
                assert visible_length(text) <= MAX_CAPTION, (locale, text)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("method", ["lm", "local_fallback", "local_heuristic"])
def test_a_long_result_fits_a_caption_and_a_message_in_every_language(locale: str, method: str) -> None:
    t = texts_for(locale)
    drafts = [SceneDraft(text="सीन " * 60, duration_s=3) for _ in range(120)]
    board = assemble("Заголовок " * 40, "lm", drafts)
    revision = None
    if method == "local_heuristic":  # the longest account of a revision: every scene changed, parts not done
        note = "faster, scene 200 longer, " + ", ".join(["добавь музыку и логотип в конце " * 3] * 4)
        board, revision = improve(board, 2, note)
    else:
        board = assemble("Заголовок " * 40, method, drafts)
    job, version = make_job(status="done", kind="improve"), make_version(board.to_json())
    if revision is not None:
        version = replace(version, revision=revision.to_json())

    caption = render_result(job, version, board, budget=CAPTION_BUDGET, t=t)
    text = render_result(job, version, board, t=t)

    assert visible_length(caption) <= MAX_CAPTION and visible_length(text) <= MAX_MESSAGE
    assert t("How did I do? Rate it:") in caption
    assert (
        t.plural("… and {n} more scene in the JSON file.", "… and {n} more scenes in the JSON file.", 2)[:4] in caption
    )


@pytest.mark.parametrize("locale", LOCALES)
def test_acks_statuses_and_prompts_are_in_the_locale_and_keep_the_id_in_code(locale: str) -> None:
    t = texts_for(locale)
    for status in ["queued", "running", "done", "failed", "cancelled"]:
        job = make_job(status=status, error="pipeline" if status == "failed" else None)
        for text in (render_ack(job, 3, t=t), render_status(job, 101, t=t)):
            assert "<code>k7m2q9xw4t</code>" in text and visible_length(text) <= MAX_MESSAGE
    failed = render_failed(make_job(status="failed", error="worker_crashes"), t=t)
    assert t("This script stopped the worker several times, so it was set aside.") in failed
    summaries = [JobSummary(make_job(), "Т" * 200, "", 1)] * 200
    assert visible_length(render_job_list(summaries, t)) <= MAX_MESSAGE
    assert visible_length(render_prompt(t=t)) <= MAX_MESSAGE
    if locale == "ru":
        assert render_ack(make_job(), 3, t=t).startswith("🎬 Сценарий получен. Задание <code>k7m2q9xw4t</code>")


@pytest.mark.parametrize("locale", LOCALES)
def test_a_result_with_the_longest_revision_and_title_still_fits_a_caption(locale: str) -> None:
    t = texts_for(locale)
    drafts = [SceneDraft(text="सीन " * 60, duration_s=3, visual="v") for _ in range(40)]
    parent = assemble("Заголовок " * 40, "lm", drafts)  # an LM's title, 200 characters and more
    board = assemble(parent.title, "local_heuristic", [d.model_copy(update={"duration_s": 4}) for d in drafts])
    revision = compare(parent, board, not_followed=["добавь музыку и логотип в конце " * 3] * 5, limits=list(Limit))
    job, version = make_job(status="done", kind="improve"), make_version(board.to_json(), revision=revision.to_json())

    caption = render_result(job, version, board, budget=CAPTION_BUDGET, t=t)

    assert visible_length(caption) <= MAX_CAPTION
    assert t("How did I do? Rate it:") in caption
    assert "1. " in caption  # a scene still shows
