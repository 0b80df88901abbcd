"""The video of a storyboard, decoded with PyAV: H.264 yuv420p, the storyboard's duration, one frame a card, the moov
atom first, the first card showing scene 1; and text in Latin, Cyrillic and Devanagari drawn as glyphs, not boxes.

Fonts come from the system (fontconfig). `.ci/run` installs the Debian packages the Dockerfile does and sets
BHIV_REQUIRE_FONTS=1, under which a missing font fails the test that needs it; elsewhere that test is skipped and
says which package to install."""

from __future__ import annotations

import os
from pathlib import Path

import av
import pytest
from PIL import Image, ImageChops, ImageStat

from core.fonts import Fonts, drop_emoji, find_fonts
from core.storyboard import SceneDraft, Storyboard, assemble
from core.video import draw_card, render_video

FONTS = find_fonts()


def storyboard(*lines: str, durations: tuple[float, ...] = (), visual: str | None = None) -> Storyboard:
    drafts = [
        SceneDraft(text=line, duration_s=durations[n] if n < len(durations) else 3.0, visual=visual if n == 1 else None)
        for n, line in enumerate(lines)
    ]
    return assemble(lines[0], "local", drafts)


def need_font(script: str) -> Path:
    path = FONTS.files.get(script)
    if path is None:
        message = f"no {script} font on this machine: install fonts-dejavu-core fonts-lohit-deva (Debian)"
        if os.environ.get("BHIV_REQUIRE_FONTS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel, 0..255."""
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


def test_the_video_is_h264_yuv420p_as_long_as_the_storyboard_with_one_frame_a_card(tmp_path: Path) -> None:
    board = storyboard("INT. KITCHEN - NIGHT", "A kettle whistles", "The end", durations=(2.5, 6.0, 4.2))
    info = render_video(board, tmp_path / "out.mp4", FONTS)

    with av.open(str(info.path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(video=0))
        duration_s = container.duration / av.time_base
        head = info.path.read_bytes()[:4096]

    assert stream.codec_context.name == "h264"
    assert stream.codec_context.pix_fmt == "yuv420p"
    assert (stream.width, stream.height) == (1280, 720)
    assert abs(duration_s - board.total_duration) <= 0.25
    assert len(frames) == board.scene_count + 1  # a 6 s card is one frame, not 150; the last closes the video
    assert [round(float(frame.time), 1) for frame in frames[:-1]] == [0.0, 2.5, 8.5]
    assert all(frame.key_frame for frame in frames)  # every card can be sought to
    assert 0 <= head.find(b"moov") < head.find(b"mdat") or head.find(b"mdat") == -1  # moov first: streamable
    assert not list(tmp_path.glob(".*partial"))


def test_the_first_frame_shows_scene_one_and_not_scene_two(tmp_path: Path) -> None:
    board = storyboard("A door opens onto a garden", "A cat walks in and sits", visual="Wide shot, morning light")
    info = render_video(board, tmp_path / "out.mp4", FONTS)
    with av.open(str(info.path)) as container:
        decoded = [frame.to_image() for frame in container.decode(video=0)]

    first, second = draw_card(board, 0, FONTS), draw_card(board, 1, FONTS)
    assert difference(decoded[0], first) < 3.0  # the same card, through H.264 (and yuv420p: colours move a little)
    assert difference(decoded[0], second) > 2 * difference(decoded[0], first)
    assert difference(decoded[1], second) < 3.0


def test_a_visual_note_is_drawn_apart_from_the_frame_text() -> None:
    with_note = draw_card(storyboard("One", "Two", visual="Close on the kettle"), 1, FONTS)
    without = draw_card(storyboard("One", "Two"), 1, FONTS)
    lower = (0, 500, 1280, 640)  # the note's band, above the progress bar

    assert difference(with_note.crop(lower), without.crop(lower)) > 0.5


@pytest.mark.parametrize(
    ("script", "text"),
    [("cyrillic", "Маша наливает две чашки чая"), ("devanagari", "वे चुपचाप चाय पीते हैं")],
)
def test_cyrillic_and_devanagari_are_drawn_as_glyphs_not_boxes(script: str, text: str) -> None:
    need_font(script)
    without_font = Fonts({"latin": FONTS.files["latin"], "cyrillic": None, "devanagari": None})
    if script == "cyrillic":  # DejaVu covers Cyrillic: the box face must be one that lacks it
        without_font = Fonts({"latin": None, "cyrillic": None, "devanagari": None})
    region = (128, 250, 1152, 470)
    drawn = draw_card(storyboard(text), 0, FONTS).crop(region)
    boxes = draw_card(storyboard(text), 0, without_font).crop(region)

    assert difference(drawn, boxes) > 1.0


def test_emoji_are_dropped_and_the_spaces_around_them_tidied() -> None:
    assert drop_emoji("A cat 🐱 sits 👍🏽 here ❤️") == "A cat sits here"
    assert drop_emoji("Маша 🎬 и чай") == "Маша и чай"


def test_fonts_are_found_through_fontconfig_and_without_it_in_the_usual_folders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    need_font("latin")
    through_fontconfig = find_fonts()
    monkeypatch.setattr("core.fonts.shutil.which", lambda _name: None)  # no fc-list on this machine
    without = find_fonts()

    assert all(path is None or path.is_file() for path in [*through_fontconfig.files.values(), *without.files.values()])
    assert without.files["latin"] is not None  # DejaVu or Noto where Debian puts them
