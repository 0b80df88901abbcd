from __future__ import annotations

from dataclasses import replace

import pytest

from bot.i18n import ENGLISH
from bot.render import (
    MAX_MESSAGE,
    render_ack,
    render_failed,
    render_job_list,
    render_result,
    render_stats,
    render_status,
    visible_length,
)
from core.feedback import Stats
from core.generator import generate_local
from core.storyboard import SceneDraft, assemble
from core.types import JobSummary
from tests.fakes.records import make_job, make_version


def test_ack_shows_the_id_in_code_and_the_queue_position() -> None:
    text = render_ack(make_job(), 3)

    assert "<code>k7m2q9xw4t</code>" in text
    assert "position 3" in text
    assert "/status k7m2q9xw4t" in text


@pytest.mark.parametrize("status", ["queued", "running", "done", "failed", "cancelled"])
def test_each_status_renders_a_different_ack(status: str) -> None:
    others = {s: render_ack(make_job(status=s)) for s in ["queued", "running", "done", "failed", "cancelled"]}

    assert list(others.values()).count(others[status]) == 1


def test_a_failure_is_told_in_words_never_as_its_code() -> None:
    made = render_status(make_job(status="failed", error="pipeline"))
    improved = render_failed(make_job(status="failed", error="pipeline", kind="improve"))
    crashed = render_failed(make_job(status="failed", error="worker_crashes"))

    assert "while making this storyboard" in made and "pipeline" not in made
    assert "Rate it again to ask once more" in improved
    assert "stopped the worker several times" in crashed and "worker_crashes" not in crashed


def test_result_escapes_script_text_and_names_the_job() -> None:
    board = generate_local('<b>not bold</b> & "x"\nsecond')
    text = render_result(make_job(status="done"), make_version(board.to_json()), board)

    assert "&lt;b&gt;not bold&lt;/b&gt; &amp;" in text
    assert "<code>k7m2q9xw4t</code>" in text
    assert "2 scenes" in text


def test_result_preview_of_a_huge_storyboard_stays_within_4096() -> None:
    board = assemble("T" * 500, "lm", [SceneDraft(text="🎬" * 300, duration_s=3) for _ in range(300)])
    text = render_result(make_job(status="done"), make_version(board.to_json()), board)

    assert visible_length(text) <= MAX_MESSAGE
    assert "more scenes in the JSON file" in text


def test_visible_length_counts_utf16_units_after_entities() -> None:
    assert visible_length("<b>a&amp;b</b>") == 3
    assert visible_length("🎬") == 2


def test_jobs_list_fits_and_says_when_empty() -> None:
    assert "No jobs yet" in render_job_list([], ENGLISH)
    jobs = [JobSummary(replace(make_job(), id=f"{i:010d}"), "T" * 200, "", 1) for i in range(500)]
    assert visible_length(render_job_list(jobs, ENGLISH)) <= MAX_MESSAGE


def test_stats_show_distribution_average_and_percentiles() -> None:
    text = render_stats(Stats({"done": 3, "failed": 1}, {1: 1, 5: 3}, {"lm": 3, "local_fallback": 1}, 120.0, 900.0))

    assert "average 4.00" in text
    assert "1★ 1" in text and "5★ 3" in text
    assert "75%" in text and "fallbacks: 1" in text
    assert "median 120 ms, p95 900 ms" in text


def test_a_position_past_the_count_says_so_instead_of_a_number() -> None:
    assert "(next up)" in render_ack(make_job(), 1)
    assert "(position 100)" in render_ack(make_job(), 100)
    assert "(more than 100 ahead)" in render_ack(make_job(), 101)
