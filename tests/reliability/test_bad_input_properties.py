"""Property tests: whatever text a user sends, the bot either refuses it with a reason or makes a storyboard,
and everything it would say about it is HTML Telegram accepts (the emulator's parser, ported from tdlib, is
the oracle) within 4096 characters."""

from __future__ import annotations

import html

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.emulator.errors import ApiError
from bot.emulator.limits import message_text
from bot.keyboards import MAX_CALLBACK_BYTES, MAX_ID, build_rating_keyboard, parse_callback
from bot.render import render_ack, render_failed, render_result, render_status
from bot.texts import failure_text, rejection_text
from core.errors import RejectReason, ScriptRejectedError
from core.generator import generate_local
from core.scripts import clean_script, decode_script
from core.storyboard import parse_storyboard
from core.types import FailureCode, JobKind
from tests.fakes.records import make_job, make_version

SPECIALS = "<>&\"'_*[]()~`#+-=|{}.!\\\u200b\u200e\u200f\u202e\ufeff\n\t "
texts = st.text(
    alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from(SPECIALS), st.sampled_from("🎬👩‍🚀שלוםمرحبا")),
    max_size=400,
)


def accepted_by_telegram(html: str) -> bool:
    try:
        message_text(html, "HTML", None, strict_html=True)
    except ApiError:
        return False
    return True


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(texts)
def test_any_text_is_refused_with_a_reason_or_becomes_a_renderable_storyboard(text: str) -> None:
    try:
        script = clean_script(text, max_chars=20_000, max_scenes=300)
    except ScriptRejectedError as exc:
        assert rejection_text(exc)  # a reason the user can read
        return
    board = generate_local(script)
    assert parse_storyboard(board.to_json()) == board  # raw text survives the JSON
    version = make_version(board.to_json(), generation_method=board.generation_method)
    rendered = render_result(make_job(status="done"), version, board)
    assert accepted_by_telegram(rendered), rendered


@pytest.mark.parametrize("kind", list(JobKind))
@pytest.mark.parametrize("code", list(FailureCode))
def test_every_failure_reason_renders_in_words_as_valid_html(code: FailureCode, kind: JobKind) -> None:
    job = make_job(status="failed", error=code, kind=kind)
    words = failure_text(job)
    for rendered in (render_ack(job), render_status(job), render_failed(job)):
        assert accepted_by_telegram(rendered), rendered
        assert words in html.unescape(rendered) and code.value not in rendered


@given(st.binary(max_size=300))
def test_any_bytes_decode_to_text_or_a_clear_refusal(data: bytes) -> None:
    try:
        text = decode_script(data)
    except ScriptRejectedError as exc:
        assert exc.reason in (RejectReason.UNDECODABLE, RejectReason.BINARY) and rejection_text(exc)
        return
    assert "\x00" not in text


@given(st.integers(min_value=1, max_value=MAX_ID), st.integers(min_value=1, max_value=5))
def test_callback_data_fits_64_bytes_for_any_version_id(version_id: int, chosen: int) -> None:
    keyboard = build_rating_keyboard(version_id, chosen=chosen, skip_feedback_id=version_id)
    for row in keyboard.inline_keyboard:
        for button in row:
            data = str(button.callback_data)
            assert len(data.encode()) <= MAX_CALLBACK_BYTES
            assert parse_callback(data) is not None
