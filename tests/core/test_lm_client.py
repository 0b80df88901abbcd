"""LMClient against a fake OpenAI-compatible server on real loopback HTTP."""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import socket
import time
from collections.abc import AsyncIterator

import pytest

from core.errors import LMError, LMErrorKind
from core.generator import generate_local
from core.lm import LMClient, LMDraft, OutputForm, parse_retry_after
from core.settings import LMSettings
from core.storyboard import SceneDraft, assemble
from tests.fakes.fake_lm import FakeLM, Reply

API_KEY = "sk-test-0123456789-secret"
STORYBOARD = {
    "title": "Morning",
    "scenes": [
        {"text": "The sun rises.", "duration": 4, "visual": "Wide shot of a city"},
        {"text": "A cat yawns.", "duration": 3.5},
    ],
}
EXPECTED = LMDraft(
    title="Morning",
    scenes=[
        SceneDraft(text="The sun rises.", duration_s=4.0, visual="Wide shot of a city"),
        SceneDraft(text="A cat yawns.", duration_s=3.5),
    ],
)


def script_of(text: str) -> list[SceneDraft]:
    """A script already split into scenes, one per non-empty line, as the pipeline hands it to the client."""
    return [SceneDraft(text=line.strip(), duration_s=3.0) for line in text.splitlines() if line.strip()]


def make_settings(base_url: str, **overrides: object) -> LMSettings:
    values: dict[str, object] = {
        "lm_base_url": base_url,
        "lm_api_key": None,
        "lm_model": "fake-model",
        "lm_timeout_s": 2.0,
        "lm_connect_timeout_s": 1.0,
        "lm_max_attempts": 5,
        "lm_backoff_min_s": 0.01,
        "lm_backoff_max_s": 0.05,
        "lm_retry_after_cap_s": 0.3,
        "lm_job_deadline_s": 10.0,
    }
    values.update(overrides)
    return LMSettings.model_validate(values)


class RecordingSleep:
    """Sleeps for real and remembers each wait the retry policy asked for."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(seconds)


@pytest.fixture
async def client(fake_lm: FakeLM) -> AsyncIterator[LMClient]:
    async with LMClient(make_settings(fake_lm.base_url)) as lm_client:
        yield lm_client


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# --- success and reply parsing ---------------------------------------------------------------------------


async def test_plain_json_reply_becomes_a_draft(fake_lm: FakeLM, client: LMClient) -> None:
    fake_lm.script([Reply.ok(STORYBOARD)])

    draft = await client.generate(script_of("The sun rises.\nA cat yawns."))

    assert draft == EXPECTED
    assert assemble(draft.title, "lm", draft.scenes).total_duration == 7.5


async def test_request_is_a_chat_completion_with_model_messages_and_json_schema(
    fake_lm: FakeLM, client: LMClient
) -> None:
    await client.generate(script_of("One line."), title="My film")

    [request] = fake_lm.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == "fake-model"
    assert json.loads(request.message("user")) == {"title": "My film", "scenes": [{"n": 1, "text": "One line."}]}
    assert "JSON" in request.message("system")
    response_format = request.body["response_format"]
    assert isinstance(response_format, dict)
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "storyboard"
    assert response_format["json_schema"]["schema"]["required"] == ["title", "scenes"]


async def test_fenced_reply_with_prose_around_is_parsed(fake_lm: FakeLM, client: LMClient) -> None:
    content = f"Sure! Here is your storyboard:\n```json\n{json.dumps(STORYBOARD)}\n```\nEnjoy."
    fake_lm.script([Reply.content(content)])

    assert await client.generate(script_of("x")) == EXPECTED


async def test_reply_in_a_bare_fence_is_parsed(fake_lm: FakeLM, client: LMClient) -> None:
    fake_lm.script([Reply.content(f"```\n{json.dumps(STORYBOARD, indent=2)}\n```")])

    assert await client.generate(script_of("x")) == EXPECTED


async def test_default_fake_reply_has_one_scene_per_script_line(client: LMClient) -> None:
    draft = await client.generate(script_of("First line\n\nSecond line\nThird line"))

    assert [scene.text for scene in draft.scenes] == ["First line", "Second line", "Third line"]


async def test_long_scene_is_clamped_to_thirty_seconds_and_short_to_one(fake_lm: FakeLM, client: LMClient) -> None:
    scenes = [{"text": "slow", "duration": 150}, {"text": "fast", "duration": 0.2}]
    fake_lm.script([Reply.ok({"title": "t", "scenes": scenes})])

    draft = await client.generate(script_of("x"))

    assert [scene.duration_s for scene in draft.scenes] == [30.0, 1.0]


async def test_html_characters_in_text_are_kept_raw(fake_lm: FakeLM, client: LMClient) -> None:
    text = "<b>Tom & Jerry</b> &amp; <i>friends</i>"
    fake_lm.script([Reply.ok({"title": "<Show>", "scenes": [{"text": text, "duration": 4}]})])

    draft = await client.generate(script_of("x"))

    assert draft.scenes[0].text == text
    assert draft.title == "<Show>"


async def test_blank_scenes_are_dropped(fake_lm: FakeLM, client: LMClient) -> None:
    scenes = [{"text": "  ", "duration": 4}, {"text": "kept", "duration": 4}, {"text": "", "duration": 2}]
    fake_lm.script([Reply.ok({"title": "t", "scenes": scenes})])

    draft = await client.generate(script_of("x"))

    assert [scene.text for scene in draft.scenes] == ["kept"]


async def test_empty_title_falls_back_to_first_scene_text(fake_lm: FakeLM, client: LMClient) -> None:
    first = "A very long opening line that goes on and on well past the sixty character title limit"
    fake_lm.script([Reply.ok({"title": " ", "scenes": [{"text": first, "duration": 4}]})])

    draft = await client.generate(script_of("x"))

    assert draft.title.startswith("A very long opening line")
    assert len(draft.title) <= 60


async def test_long_title_is_trimmed_to_two_hundred_characters(fake_lm: FakeLM, client: LMClient) -> None:
    fake_lm.script([Reply.ok({"title": "T" * 500, "scenes": [{"text": "a", "duration": 4}]})])

    draft = await client.generate(script_of("x"))

    assert draft.title == "T" * 200


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(Reply.garbage("I cannot do that."), id="content-not-json"),
        pytest.param(Reply.content('{"title": "t"}'), id="missing-scenes"),
        pytest.param(Reply.content('{"title": "t", "scenes": []}'), id="empty-scenes"),
        pytest.param(Reply.content('{"scenes": [{"text": " ", "duration": 3}]}'), id="only-blank-scenes"),
        pytest.param(Reply.content('{"scenes": [{"text": "a", "duration": "4"}]}'), id="duration-string"),
        pytest.param(Reply.content('{"scenes": [{"text": "a", "duration": true}]}'), id="duration-bool"),
        pytest.param(Reply.content('{"scenes": [{"text": "a", "duration": NaN}]}'), id="duration-nan"),
        pytest.param(Reply.content('{"scenes": [{"text": "a", "duration": 0}]}'), id="duration-zero"),
        pytest.param(Reply.content('{"scenes": [{"text": "a", "duration": -3}]}'), id="duration-negative"),
        pytest.param(Reply.content('{"scenes": [{"text": 7, "duration": 3}]}'), id="text-not-string"),
        pytest.param(Reply.content('["a", "b"]'), id="json-not-object"),
        pytest.param(Reply.raw("<html>oops</html>", content_type="text/html"), id="body-not-json"),
        pytest.param(Reply.raw('{"choices": []}'), id="no-choices"),
        pytest.param(Reply.raw('{"choices": [{"message": {"content": null}}]}'), id="null-content"),
    ],
)
async def test_bad_reply_is_rejected_without_retry(fake_lm: FakeLM, client: LMClient, reply: Reply) -> None:
    fake_lm.script([reply])

    with pytest.raises(LMError) as caught:
        await client.generate(script_of("x"))

    assert caught.value.kind is LMErrorKind.BAD_REPLY
    assert len(fake_lm.requests) == 1


async def test_more_scenes_than_the_limit_is_a_bad_reply(fake_lm: FakeLM) -> None:
    fake_lm.script([Reply.ok({"title": "t", "scenes": [{"text": "a", "duration": 3}] * 4})])

    async with LMClient(make_settings(fake_lm.base_url), max_scenes=3) as client:
        with pytest.raises(LMError) as caught:
            await client.generate(script_of("x"))

    assert caught.value.kind is LMErrorKind.BAD_REPLY


# --- retries -----------------------------------------------------------------------------------------------


async def test_rate_limited_request_is_retried_then_succeeds(fake_lm: FakeLM, client: LMClient) -> None:
    fake_lm.script([Reply.status(429), Reply.ok(STORYBOARD)])

    assert await client.generate(script_of("x")) == EXPECTED
    assert len(fake_lm.requests) == 2


async def test_four_server_errors_then_success_uses_five_requests(fake_lm: FakeLM, client: LMClient) -> None:
    fake_lm.script([Reply.status(500), Reply.status(502), Reply.status(503), Reply.status(504)])

    draft = await client.generate(script_of("only line"))

    assert draft.scenes[0].text == "only line"
    assert len(fake_lm.requests) == 5


async def test_server_errors_until_attempts_run_out_raise_server(fake_lm: FakeLM, client: LMClient) -> None:
    fake_lm.script([Reply.status(503)] * 6)

    with pytest.raises(LMError) as caught:
        await client.generate(script_of("x"))

    assert caught.value.kind is LMErrorKind.SERVER
    assert caught.value.status == 503
    assert caught.value.attempts == 5
    assert len(fake_lm.requests) == 5


async def test_rate_limit_until_attempts_run_out_raises_rate_limited(fake_lm: FakeLM) -> None:
    fake_lm.script([Reply.status(429)] * 3)

    async with LMClient(make_settings(fake_lm.base_url, lm_max_attempts=3)) as client:
        with pytest.raises(LMError) as caught:
            await client.generate(script_of("x"))

    assert caught.value.kind is LMErrorKind.RATE_LIMITED
    assert caught.value.attempts == 3
    assert len(fake_lm.requests) == 3


@pytest.mark.parametrize("status", [401, 403, 404, 409, 413])
async def test_client_errors_are_rejected_after_one_request(fake_lm: FakeLM, client: LMClient, status: int) -> None:
    fake_lm.script([Reply.status(status, body="model 'fake-model' not found")])

    with pytest.raises(LMError) as caught:
        await client.generate(script_of("x"))

    assert caught.value.kind is LMErrorKind.REJECTED
    assert caught.value.status == status
    assert "not found" in str(caught.value)
    assert len(fake_lm.requests) == 1


async def test_bad_request_steps_down_through_the_forms_then_is_rejected_never_retried(
    fake_lm: FakeLM, client: LMClient
) -> None:
    fake_lm.script([Reply.status(400, body="model 'fake-model' not found")] * 3)

    with pytest.raises(LMError) as caught:
        await client.generate(script_of("x"))

    assert caught.value.kind is LMErrorKind.REJECTED
    assert caught.value.status == 400
    assert fake_lm.response_format_types == ["json_schema", "json_object", None]


async def test_retry_after_longer_than_the_cap_waits_the_cap(fake_lm: FakeLM) -> None:
    fake_lm.script([Reply.status(429, retry_after="1"), Reply.ok(STORYBOARD)])
    sleep = RecordingSleep()
    settings = make_settings(fake_lm.base_url, lm_retry_after_cap_s=0.3)

    started = time.monotonic()
    async with LMClient(settings, sleep=sleep) as client:
        await client.generate(script_of("x"))

    assert sleep.waits == [pytest.approx(0.3)]
    assert time.monotonic() - started >= 0.3


async def test_retry_after_under_the_cap_is_honoured_over_shorter_backoff(fake_lm: FakeLM) -> None:
    fake_lm.script([Reply.status(429, retry_after="0.2"), Reply.ok(STORYBOARD)])
    sleep = RecordingSleep()

    async with LMClient(make_settings(fake_lm.base_url, lm_retry_after_cap_s=5), sleep=sleep) as client:
        await client.generate(script_of("x"))

    assert sleep.waits == [pytest.approx(0.2)]


async def test_retry_after_as_http_date_is_honoured(fake_lm: FakeLM) -> None:
    soon = email.utils.formatdate(time.time() + 60, usegmt=True)
    fake_lm.script([Reply.status(429, retry_after=soon), Reply.ok(STORYBOARD)])
    sleep = RecordingSleep()

    async with LMClient(make_settings(fake_lm.base_url, lm_retry_after_cap_s=0.25), sleep=sleep) as client:
        await client.generate(script_of("x"))

    assert sleep.waits == [pytest.approx(0.25)]


def test_retry_after_parses_seconds_and_dates_and_ignores_junk() -> None:
    in_two_minutes = email.utils.formatdate(time.time() + 120, usegmt=True)

    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(in_two_minutes) == pytest.approx(120, abs=5)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


async def test_backoff_waits_grow_and_stay_within_bounds(fake_lm: FakeLM) -> None:
    fake_lm.script([Reply.status(503)] * 4)
    sleep = RecordingSleep()
    settings = make_settings(fake_lm.base_url, lm_backoff_min_s=0.01, lm_backoff_max_s=0.04)

    async with LMClient(settings, sleep=sleep) as client:
        await client.generate(script_of("x"))

    assert len(sleep.waits) == 4
    assert all(0.01 <= wait <= 0.04 for wait in sleep.waits)
    assert sleep.waits[-1] == pytest.approx(0.04)


async def test_requests_that_hang_past_the_timeout_raise_timeout(fake_lm: FakeLM) -> None:
    fake_lm.script([Reply.hang(5), Reply.hang(5)])
    settings = make_settings(fake_lm.base_url, lm_timeout_s=0.1, lm_max_attempts=2)

    async with LMClient(settings) as client:
        with pytest.raises(LMError) as caught:
            await client.generate(script_of("x"))

    assert caught.value.kind is LMErrorKind.TIMEOUT
    assert caught.value.attempts == 2
    assert len(fake_lm.requests) == 2


async def test_one_timeout_then_success(fake_lm: FakeLM) -> None:
    fake_lm.script([Reply.hang(5), Reply.ok(STORYBOARD)])

    async with LMClient(make_settings(fake_lm.base_url, lm_timeout_s=0.1)) as client:
        assert await client.generate(script_of("x")) == EXPECTED

    assert len(fake_lm.requests) == 2


async def test_connection_refused_raises_connect_after_the_attempts() -> None:
    async with LMClient(make_settings(closed_port_url(), lm_max_attempts=3)) as client:
        with pytest.raises(LMError) as caught:
            await client.generate(script_of("x"))

    assert caught.value.kind is LMErrorKind.CONNECT
    assert caught.value.attempts == 3


async def test_dropped_connection_is_retried(fake_lm: FakeLM, client: LMClient) -> None:
    fake_lm.script([Reply.drop(), Reply.ok(STORYBOARD)])

    assert await client.generate(script_of("x")) == EXPECTED
    assert len(fake_lm.requests) == 2


async def test_connections_dropped_every_time_raise_connect(fake_lm: FakeLM) -> None:
    fake_lm.script([Reply.drop()] * 2)

    async with LMClient(make_settings(fake_lm.base_url, lm_max_attempts=2)) as client:
        with pytest.raises(LMError) as caught:
            await client.generate(script_of("x"))

    assert caught.value.kind is LMErrorKind.CONNECT
    assert len(fake_lm.requests) == 2


# --- the overall deadline ------------------------------------------------------------------------------------


async def test_call_that_outlives_the_deadline_raises_deadline(fake_lm: FakeLM) -> None:
    fake_lm.script([Reply.hang(5)])
    settings = make_settings(fake_lm.base_url, lm_timeout_s=5, lm_job_deadline_s=0.3)

    started = time.monotonic()
    async with LMClient(settings) as client:
        with pytest.raises(LMError) as caught:
            await client.generate(script_of("x"))

    assert caught.value.kind is LMErrorKind.DEADLINE
    assert time.monotonic() - started >= 0.3


async def test_retry_wait_that_would_pass_the_deadline_is_not_started(fake_lm: FakeLM) -> None:
    fake_lm.script([Reply.status(429, retry_after="3"), Reply.ok(STORYBOARD)])
    sleep = RecordingSleep()
    settings = make_settings(fake_lm.base_url, lm_retry_after_cap_s=10, lm_job_deadline_s=1)

    async with LMClient(settings, sleep=sleep) as client:
        with pytest.raises(LMError) as caught:
            await client.generate(script_of("x"))

    assert caught.value.kind is LMErrorKind.DEADLINE
    assert caught.value.attempts == 1
    assert sleep.waits == []
    assert len(fake_lm.requests) == 1


# --- structured output degradation ----------------------------------------------------------------------------


async def test_rejected_json_schema_steps_down_and_is_remembered() -> None:
    async with (
        FakeLM(unsupported_forms={"json_schema"}) as fake,
        LMClient(make_settings(fake.base_url)) as client,
    ):
        await client.generate(script_of("first"))
        assert fake.response_format_types == ["json_schema", "json_object"]
        assert client.output_form is OutputForm.JSON_OBJECT

        await client.generate(script_of("second"))

    assert fake.response_format_types == ["json_schema", "json_object", "json_object"]
    assert fake.requests[1].body["response_format"]["schema"]["required"] == ["title", "scenes"]


async def test_accepted_form_is_remembered_even_when_the_reply_is_bad() -> None:
    async with (
        FakeLM(unsupported_forms={"json_schema"}) as fake,
        LMClient(make_settings(fake.base_url)) as client,
    ):
        fake.script([Reply.garbage()])
        with pytest.raises(LMError):
            await client.generate(script_of("first"))
        await client.generate(script_of("second"))

    assert fake.response_format_types == ["json_schema", "json_object", "json_object"]


async def test_server_without_structured_output_ends_at_plain_prompt() -> None:
    async with (
        FakeLM(unsupported_forms={"json_schema", "json_object"}) as fake,
        LMClient(make_settings(fake.base_url)) as client,
    ):
        first = await client.generate(script_of("a line"))
        await client.generate(script_of("another line"))

    assert first.scenes[0].text == "a line"
    assert fake.response_format_types == ["json_schema", "json_object", None, None]
    assert client.output_form is OutputForm.PLAIN


@pytest.mark.parametrize(
    "rejection",
    [
        pytest.param(Reply.status(422, body="field required"), id="422"),
        pytest.param(Reply.reject_response_format(500), id="500-naming-response_format"),
        pytest.param(Reply.status(400, body="Unsupported json_schema"), id="400-naming-json_schema"),
        pytest.param(Reply.status(400, body="bad request"), id="400-saying-nothing"),
    ],
)
async def test_form_rejections_step_down(fake_lm: FakeLM, client: LMClient, rejection: Reply) -> None:
    fake_lm.script([rejection])

    await client.generate(script_of("x"))

    assert fake_lm.response_format_types == ["json_schema", "json_object"]


async def test_step_down_does_not_count_as_an_attempt(fake_lm: FakeLM) -> None:
    fake_lm.script([Reply.reject_response_format(), Reply.status(503), Reply.ok(STORYBOARD)])

    async with LMClient(make_settings(fake_lm.base_url, lm_max_attempts=2)) as client:
        assert await client.generate(script_of("x")) == EXPECTED

    assert fake_lm.response_format_types == ["json_schema", "json_object", "json_object"]


async def test_plain_server_error_does_not_step_down(fake_lm: FakeLM, client: LMClient) -> None:
    fake_lm.script([Reply.status(500, body="out of memory"), Reply.ok(STORYBOARD)])

    await client.generate(script_of("x"))

    assert fake_lm.response_format_types == ["json_schema", "json_schema"]


async def test_request_refused_in_every_form_is_rejected_and_not_remembered(fake_lm: FakeLM, client: LMClient) -> None:
    fake_lm.script([Reply.status(422)] * 3)

    with pytest.raises(LMError) as caught:
        await client.generate(script_of("x"))

    assert caught.value.kind is LMErrorKind.REJECTED
    assert fake_lm.response_format_types == ["json_schema", "json_object", None]
    assert client.output_form is OutputForm.JSON_SCHEMA


# --- the API key ----------------------------------------------------------------------------------------------


async def test_authorization_header_is_sent_when_a_key_is_set(fake_lm: FakeLM) -> None:
    async with LMClient(make_settings(fake_lm.base_url, lm_api_key=API_KEY)) as client:
        await client.generate(script_of("x"))

    assert fake_lm.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


async def test_no_authorization_header_without_a_key(fake_lm: FakeLM, client: LMClient) -> None:
    await client.generate(script_of("x"))

    assert "authorization" not in fake_lm.requests[0].headers


async def test_api_key_appears_in_no_log_record_error_or_repr(
    fake_lm: FakeLM, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_lm.script(
        [
            Reply.status(429, retry_after="0"),
            Reply.reject_response_format(),
            Reply.drop(),
            Reply.ok(STORYBOARD),
            Reply.status(401, body=f"Incorrect API key provided: {API_KEY}"),
        ]
    )

    async with LMClient(make_settings(fake_lm.base_url, lm_api_key=API_KEY)) as client:
        await client.generate(script_of("x"))
        with pytest.raises(LMError) as caught:
            await client.generate(script_of("x"))
        client_repr = repr(client)

    assert caught.value.kind is LMErrorKind.REJECTED
    logged = "\n".join(f"{record.getMessage()} {record.args!r}" for record in caplog.records)
    assert {record.name.split(".")[0] for record in caplog.records} >= {"core", "httpx", "httpcore"}
    assert API_KEY not in logged
    assert API_KEY not in client_repr
    chain: BaseException | None = caught.value
    while chain is not None:
        assert API_KEY not in str(chain)
        assert API_KEY not in repr(chain)
        chain = chain.__cause__ or chain.__context__


# --- improve ---------------------------------------------------------------------------------------------------


async def test_improve_sends_the_current_storyboard_and_the_feedback(fake_lm: FakeLM, client: LMClient) -> None:
    storyboard = generate_local("Open on the sea.\nA boat appears.")

    draft = await client.improve(storyboard, rating=2, comment="Too fast, slow it down")

    [request] = fake_lm.requests
    sent = json.loads(request.message("user"))
    assert sent["scenes"] == [
        {"n": 1, "text": "Open on the sea.", "duration": 3.0, "visual": ""},
        {"n": 2, "text": "A boat appears.", "duration": 3.0, "visual": ""},
    ]
    assert (sent["rating"], sent["note"]) == (2, "Too fast, slow it down")
    assert "revise" in request.message("system")
    assert [scene.text for scene in draft.scenes] == ["Open on the sea.", "A boat appears."]
    assert all(new.duration_s > old.duration for new, old in zip(draft.scenes, storyboard.scenes, strict=True))


async def test_improve_without_comment_says_so(fake_lm: FakeLM, client: LMClient) -> None:
    storyboard = generate_local("Only line.")

    await client.improve(storyboard, rating=1, comment=None)

    sent = json.loads(fake_lm.requests[0].message("user"))
    assert (sent["rating"], sent["note"]) == (1, "")


# --- construction ----------------------------------------------------------------------------------------------


def test_client_without_base_url_is_not_configured() -> None:
    with pytest.raises(LMError) as caught:
        LMClient(LMSettings(lm_base_url=None))

    assert caught.value.kind is LMErrorKind.NOT_CONFIGURED


# --- hostile replies: the prompt asks the model to copy the user's text, so any user can plant one ----------------


@pytest.mark.parametrize(
    "content",
    [
        # valid JSON whose scene text is a fence and 2000 spaces: the old fence regex backtracked with its cube
        pytest.param(json.dumps({"scenes": [{"text": "```" + " " * 2000 + "x", "duration": 3}]}), id="fence-spaces"),
        pytest.param("```" + " \t" * 3000 + "\n{", id="open-fence-tabs-and-spaces"),
        pytest.param("```json\n" + "```" * 3000, id="a-thousand-fences"),
    ],
)
async def test_replies_built_to_backtrack_parse_at_once(fake_lm: FakeLM, client: LMClient, content: str) -> None:
    fake_lm.script([Reply.content(content)])

    try:
        async with asyncio.timeout(5):  # the regex this replaced took 25 s on the first of these
            draft: LMDraft | LMError = await client.generate(script_of("x"))
    except LMError as exc:
        draft = exc

    assert isinstance(draft, LMDraft) or draft.kind is LMErrorKind.BAD_REPLY


async def test_json_nested_five_thousand_deep_is_a_bad_reply_not_a_recursion_error(
    fake_lm: FakeLM, client: LMClient
) -> None:
    fake_lm.script([Reply.content("[" * 5000 + "]" * 5000)])

    with pytest.raises(LMError) as caught:
        await client.generate(script_of("x"))

    assert caught.value.kind is LMErrorKind.BAD_REPLY  # the pipeline falls back to the local generator


async def test_an_answer_over_the_size_limit_is_not_read(fake_lm: FakeLM) -> None:
    fake_lm.script([Reply.content("x" * 300_000)])

    async with LMClient(make_settings(fake_lm.base_url, lm_max_reply_bytes=100_000)) as limited:
        with pytest.raises(LMError, match="over 100000") as caught:
            await limited.generate(script_of("x"))

    assert caught.value.kind is LMErrorKind.BAD_REPLY and len(fake_lm.requests) == 1


async def test_each_request_caps_the_reply_with_max_tokens(fake_lm: FakeLM, client: LMClient) -> None:
    fake_lm.script([Reply.ok(STORYBOARD)])

    await client.generate(script_of("x"))

    assert fake_lm.requests[0].body["max_tokens"] == 8192
