"""A storyboard as an animatic: one 16:9 card a scene, shown for exactly its duration, as an H.264 MP4.

Cards are drawn with Pillow: the scene's frame texts wrapped and fitted inside the title-safe area (a tenth of
the width and height in from each edge), its visual note set apart below them, the scene number and a progress
bar along the bottom. They are encoded with PyAV (whose wheel bundles FFmpeg and libx264), yuv420p, with the
moov atom first (``movflags=+faststart``) so a player can start before the whole file has arrived.

The cost follows the number of cards, not the seconds. MP4 gives every sample its own duration, so each card is
one frame (a keyframe: every card can be sought to) whose timestamp is its scene's start on a millisecond time
base, and its packet lasts until the next card's start; a last frame, the last card again, closes the video at
the storyboard's total, since players end a video at its last frame's start plus its duration and some ignore
that duration. A 6 s card costs one frame, not 150.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from PIL import Image, ImageDraw

from core.fonts import Fonts, drop_emoji
from core.storyboard import Storyboard

WIDTH, HEIGHT = 1280, 720  # 720p: Telegram plays it in place; at least 640x360 and even
SAFE = 0.1  # title-safe margin, each side
TIME_BASE = Fraction(1, 1000)
BACKGROUND = (18, 20, 28)
TEXT = (242, 242, 238)
NOTE = (150, 196, 255)
MUTED = (140, 144, 160)
BAR = (255, 196, 64)
MIN_TEXT_PX = 18
MAX_TEXT_PX = 64


@dataclass(frozen=True, slots=True)
class VideoInfo:
    path: Path
    duration_s: float
    width: int
    height: int
    size_bytes: int
    codec: str = "h264"
    cards: int = 0


def _wrap(draw: ImageDraw.ImageDraw, text: str, face: object, width: int) -> list[str]:
    """Lines of ``text`` that fit ``width`` pixels, broken at spaces (a word too long alone is cut)."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}".strip()
            if draw.textlength(candidate, font=face) <= width:  # type: ignore[arg-type]
                line = candidate
                continue
            if line:
                lines.append(line)
            while draw.textlength(word, font=face) > width and len(word) > 1:  # type: ignore[arg-type]
                cut = len(word)
                while cut > 1 and draw.textlength(word[:cut], font=face) > width:  # type: ignore[arg-type]
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return lines


def _fit(draw: ImageDraw.ImageDraw, text: str, fonts: Fonts, box: tuple[int, int]) -> tuple[object, list[str], int]:
    """The largest face (MIN..MAX px) at which ``text``, wrapped, fits ``box``; its lines and line height."""
    width, height = box
    size = MAX_TEXT_PX
    while True:
        face = fonts.face(text, size)
        lines = _wrap(draw, text, face, width)
        line_height = round(size * 1.3)
        if len(lines) * line_height <= height or size <= MIN_TEXT_PX:
            return face, lines, line_height
        size -= 4 if size > 32 else 2


def draw_card(storyboard: Storyboard, index: int, fonts: Fonts, size: tuple[int, int] = (WIDTH, HEIGHT)) -> Image.Image:
    """Scene ``index`` (0-based) of ``storyboard`` as a card."""
    width, height = size
    scene = storyboard.scenes[index]
    image = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(image)
    left, top = round(width * SAFE), round(height * SAFE)
    inner_w, inner_h = width - 2 * left, height - 2 * top
    small = fonts.face("0", max(16, height // 30))

    draw.text((left, top), f"Scene {index + 1} / {storyboard.scene_count}", font=small, fill=MUTED)
    draw.text((width - left, top), f"{scene.duration:g} s", font=small, fill=MUTED, anchor="ra")
    text = drop_emoji("\n".join(frame.text for frame in scene.frames))
    note = drop_emoji(" ".join(frame.visual for frame in scene.frames if frame.visual))
    header = round(height * 0.08)
    note_h = round(inner_h * 0.22) if note else 0
    text_box = (inner_w, inner_h - header - note_h - (round(height * 0.03) if note else 0))
    face, lines, line_height = _fit(draw, text, fonts, text_box)
    y = top + header + max(0, (text_box[1] - len(lines) * line_height) // 2)
    for line in lines:
        draw.text((width // 2, y), line, font=face, fill=TEXT, anchor="ma")  # type: ignore[arg-type]
        y += line_height
    if note:
        note_top = top + inner_h - note_h
        draw.line((left, note_top - 8, width - left, note_top - 8), fill=MUTED, width=1)
        note_face, note_lines, note_line_h = _fit(draw, note, fonts, (inner_w, note_h))
        for n, line in enumerate(note_lines):
            draw.text((left, note_top + n * note_line_h), line, font=note_face, fill=NOTE)  # type: ignore[arg-type]
    bar_y = height - round(top * 0.6)
    total = storyboard.total_duration or 1.0
    done = (scene.start_time + scene.duration) / total
    draw.rectangle((left, bar_y, width - left, bar_y + 6), fill=(48, 52, 66))
    draw.rectangle((left, bar_y, left + round(inner_w * done), bar_y + 6), fill=BAR)
    return image


THUMBNAIL = (320, 180)  # Telegram's limit: 320 px on the longer side, a JPEG under 200 KB


def thumbnail_jpeg(storyboard: Storyboard, fonts: Fonts) -> bytes:
    """The first card, small, as the chat shows it before the video plays."""
    import io

    buffer = io.BytesIO()
    draw_card(storyboard, 0, fonts).resize(THUMBNAIL, Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def render_video(
    storyboard: Storyboard, path: Path, fonts: Fonts, *, size: tuple[int, int] = (WIDTH, HEIGHT)
) -> VideoInfo:
    """Encode ``storyboard`` to ``path`` (written whole, then renamed into place); what was written."""
    import av  # PyAV is heavy to import: only a process that renders pays for it

    width, height = size
    if width % 2 or height % 2:
        raise ValueError("yuv420p needs an even width and height")
    partial = path.with_name(f".{path.name}.partial")
    starts = [round(scene.start_time * 1000) for scene in storyboard.scenes]
    end = round(storyboard.total_duration * 1000)
    with av.open(str(partial), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=1000)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = TIME_BASE
        stream.codec_context.time_base = TIME_BASE
        stream.codec_context.options = {"preset": "veryfast", "tune": "stillimage", "crf": "23", "bf": "0"}
        durations: dict[int, int] = {}
        marks = [*starts, max(end - 1, starts[-1] + 1)]  # the last card again, one millisecond before the end
        card: Image.Image | None = None
        for n, pts in enumerate(marks):
            if n < len(starts) or card is None:
                card = draw_card(storyboard, min(n, len(starts) - 1), fonts, size)
            frame = av.VideoFrame.from_image(card).reformat(format="yuv420p")
            frame.pts, frame.time_base = pts, TIME_BASE
            frame.pict_type = av.video.frame.PictureType.I  # every card a keyframe: seekable to
            durations[pts] = (marks[n + 1] if n + 1 < len(marks) else end) - pts
            _mux(container, stream, stream.encode(frame), durations)
        _mux(container, stream, stream.encode(None), durations)
    os.replace(partial, path)
    return VideoInfo(path, end / 1000, width, height, path.stat().st_size, "h264", len(starts))


def _mux(container: object, stream: object, packets: object, durations: dict[int, int]) -> None:
    for packet in packets:  # type: ignore[attr-defined]
        if packet.pts is not None and packet.pts in durations:
            packet.duration = max(1, durations[packet.pts])
        container.mux(packet)  # type: ignore[attr-defined]
