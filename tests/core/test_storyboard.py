from __future__ import annotations

import json

import pytest

from core.errors import RejectReason, ScriptRejectedError
from core.generator import generate_local
from core.scripts import clean_script, decode_script
from core.storyboard import FRAME_CHARS, SceneDraft, assemble, parse_storyboard, split_frames


def test_one_scene_per_non_empty_line_with_cumulative_start_times() -> None:
    board = generate_local(
        "First line\n\n   \nA second, much longer line that takes more than three seconds to say\nEnd"
    )

    assert [scene.frames[0].text for scene in board.scenes] == [
        "First line",
        "A second, much longer line that takes more than three seconds to say",
        "End",
    ]
    starts = [scene.start_time for scene in board.scenes]
    durations = [scene.duration for scene in board.scenes]
    assert starts == [0.0, durations[0], round(durations[0] + durations[1], 1)]
    assert board.total_duration == round(sum(durations), 1)
    assert [scene.id for scene in board.scenes] == ["scene_1", "scene_2", "scene_3"]
    assert board.generation_method == "local"


def test_durations_follow_line_length_clamped_to_three_to_six_seconds() -> None:
    board = generate_local("hi\n" + "x" * 60 + "\n" + "y" * 500)

    assert [scene.duration for scene in board.scenes] == [3.0, 4.0, 6.0]


def test_html_characters_are_kept_raw_in_the_json() -> None:
    board = generate_local('<b>Bold</b> & "quotes" <script>')
    document = json.loads(board.to_json())

    assert document["scenes"][0]["frames"][0]["text"] == '<b>Bold</b> & "quotes" <script>'
    assert "&amp;" not in board.to_json()


def test_unicode_rtl_and_emoji_survive_a_round_trip() -> None:
    script = "שלום עולם\n🎬 Action! 👩‍🚀\nzero\u200bwidth"
    board = parse_storyboard(generate_local(script).to_json())

    assert [scene.frames[0].text for scene in board.scenes] == [
        "שלום עולם",
        "🎬 Action! 👩‍🚀",
        "zero\u200bwidth",
    ]


def test_a_very_long_line_becomes_frames_that_keep_every_character() -> None:
    line = " ".join(f"word{i}" for i in range(400))
    board = generate_local(line)

    frames = board.scenes[0].frames
    assert len(frames) > 1
    assert all(len(frame.text) <= FRAME_CHARS for frame in frames)
    assert "".join(frame.text for frame in frames) == line
    assert [frame.id for frame in frames[:2]] == ["frame_1_1", "frame_1_2"]


def test_split_frames_cuts_a_line_without_spaces() -> None:
    assert split_frames("x" * 250) == ["x" * 100, "x" * 100, "x" * 50]


def test_document_has_the_contract_shape() -> None:
    document = json.loads(generate_local("a\nb").to_json())

    assert set(document) == {"version", "title", "generation_method", "total_duration", "scenes"}
    assert document["version"] == "1.0"
    assert set(document["scenes"][0]) == {"id", "start_time", "duration", "frames"}
    assert "visual" not in document["scenes"][0]["frames"][0]


def test_clean_script_rejects_empty_whitespace_and_invisible_only() -> None:
    for text in ["", "   ", "\n\n\t\n", "\ufeff", "\u200b\u200b\n\u200e\u202e"]:
        with pytest.raises(ScriptRejectedError, match="empty"):
            clean_script(text, max_chars=100, max_scenes=10)


def test_clean_script_rejects_too_long_and_too_many_scenes_with_numbers() -> None:
    with pytest.raises(ScriptRejectedError) as too_long:
        clean_script("x" * 101, max_chars=100, max_scenes=10)
    with pytest.raises(ScriptRejectedError) as too_many:
        clean_script("a\n" * 11, max_chars=100, max_scenes=10)

    assert (too_long.value.reason, too_long.value.size, too_long.value.limit) == (RejectReason.TOO_LONG, 101, 100)
    assert (too_many.value.reason, too_many.value.size, too_many.value.limit) == (RejectReason.TOO_MANY_SCENES, 11, 10)


def test_clean_script_replaces_lone_surrogates_and_refuses_nul() -> None:
    assert clean_script("ok \ud800 fine", max_chars=100, max_scenes=10) == "ok ? fine"
    with pytest.raises(ScriptRejectedError, match="binary"):
        clean_script("a\x00b", max_chars=100, max_scenes=10)


@pytest.mark.parametrize(
    "data",
    [
        "Scène 1 — café".encode(),
        "\ufeffScène 1 — café".encode(),
        "Scène 1 — café".encode("utf-16"),
        "Scène 1 — café".encode("utf-16-be").join([b"\xfe\xff", b""]),
    ],
)
def test_decode_script_accepts_utf8_with_or_without_bom_and_utf16_with_bom(data: bytes) -> None:
    assert decode_script(data) == "Scène 1 — café"


@pytest.mark.parametrize("data", [b"\xff\xd8\xff\xe0JFIF\x00\x01", b"caf\xe9", "no bom".encode("utf-16-le")])
def test_decode_script_refuses_binary_latin1_and_bomless_utf16(data: bytes) -> None:
    with pytest.raises(ScriptRejectedError):
        decode_script(data)


def test_frames_a_source_gives_are_kept_and_each_cut_to_frame_size() -> None:
    board = assemble("T", "local", [SceneDraft(text="ignored", frames=("MARY: Hi.", "x" * 150), duration_s=3)])
    assert [frame.text for frame in board.scenes[0].frames] == ["MARY: Hi.", "x" * 100, "x" * 50]
