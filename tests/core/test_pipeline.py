from __future__ import annotations

import json
import socket

from core.errors import LMErrorKind
from core.generator import generate_local
from core.lm import LMClient
from core.pipeline import Pipeline
from core.settings import LMSettings
from tests.fakes.fake_lm import FakeLM, Reply

FAST = {"lm_backoff_min_s": 0.01, "lm_backoff_max_s": 0.02, "lm_timeout_s": 1.0, "lm_connect_timeout_s": 0.5}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_without_an_lm_the_local_generator_makes_the_storyboard() -> None:
    result = await Pipeline(None).generate("one\ntwo")

    assert result.storyboard.generation_method == "local"
    assert result.lm_error is None


async def test_lm_storyboard_is_marked_lm(fake_lm: FakeLM) -> None:
    async with LMClient(LMSettings(lm_base_url=fake_lm.base_url, **FAST)) as lm:
        result = await Pipeline(lm).generate("A hero wakes.\nShe runs.")

    assert result.storyboard.generation_method == "lm"
    assert [s.frames[0].text for s in result.storyboard.scenes] == ["A hero wakes.", "She runs."]


async def test_lm_down_falls_back_to_the_local_generator_and_says_so() -> None:
    settings = LMSettings(lm_base_url=f"http://127.0.0.1:{closed_port()}/v1", lm_max_attempts=2, **FAST)
    async with LMClient(settings) as lm:
        result = await Pipeline(lm).generate("one\ntwo")

    assert result.storyboard.generation_method == "local_fallback"
    assert result.lm_error is not None and result.lm_error.kind is LMErrorKind.CONNECT
    assert result.storyboard.scenes == generate_local("one\ntwo").scenes


async def test_lm_garbage_falls_back_after_one_request(fake_lm: FakeLM) -> None:
    fake_lm.script([Reply.garbage()])
    async with LMClient(LMSettings(lm_base_url=fake_lm.base_url, **FAST)) as lm:
        result = await Pipeline(lm).generate("one")

    assert result.storyboard.generation_method == "local_fallback"
    assert len(fake_lm.requests) == 1


async def test_improvement_without_an_lm_uses_the_heuristic() -> None:
    board = generate_local("one\ntwo")

    result = await Pipeline(None).improve(board, rating=1, comment="too fast")

    assert result.storyboard.generation_method == "local_heuristic"
    assert result.storyboard.total_duration > board.total_duration


async def test_improvement_by_the_lm_sends_the_storyboard_and_the_note(fake_lm: FakeLM) -> None:
    board = generate_local("one\ntwo")
    async with LMClient(LMSettings(lm_base_url=fake_lm.base_url, **FAST)) as lm:
        result = await Pipeline(lm).improve(board, rating=2, comment="slower please")

    assert result.storyboard.generation_method == "lm"
    sent = json.loads(fake_lm.requests[0].message("user"))
    assert sent["note"] == "slower please"
    assert [scene["text"] for scene in sent["scenes"]] == ["one", "two"]
    assert result.revision is not None and [c.scene for c in result.revision.changes] == [1, 2]
