"""Fonts for the video cards, found through fontconfig, for each script a chat accepts.

``find_fonts`` asks fontconfig (``fc-list``, the system's own font index) for a font of each script, by language:
Latin and Cyrillic (one face covers both: DejaVu Sans, Noto Sans) and Devanagari (Noto Sans Devanagari, Lohit,
Mukta). Where fontconfig is missing it looks in the usual folders, and for Latin it falls back to the face that
Pillow bundles. A script with no font is said in one warning line at start (``Fonts.missing``); its text is then
drawn in the Latin face, which shows boxes for it, so the warning is the operator's cue to install the package the
Dockerfile installs (``fonts-dejavu-core fonts-lohit-deva``). Emoji are dropped from card text: no card font has
them, and a box in their place says nothing.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from PIL import ImageFont

logger = logging.getLogger(__name__)

FontFace = ImageFont.FreeTypeFont | ImageFont.ImageFont

# A script, the fontconfig language that asks for it, and faces known to cover it where fontconfig is absent.
SCRIPTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "latin": ("en", ("dejavu/DejaVuSans.ttf", "noto/NotoSans-Regular.ttf", "liberation/LiberationSans-Regular.ttf")),
    "cyrillic": ("ru", ("dejavu/DejaVuSans.ttf", "noto/NotoSans-Regular.ttf", "liberation/LiberationSans-Regular.ttf")),
    "devanagari": ("hi", ("noto/NotoSansDevanagari-Regular.ttf", "lohit-devanagari/Lohit-Devanagari.ttf")),
}
FONT_DIRS = (Path("/usr/share/fonts/truetype"), Path("/usr/share/fonts/opentype"), Path("/usr/local/share/fonts"))
PREFERRED = ("DejaVuSans.ttf", "NotoSans-Regular.ttf", "NotoSansDevanagari-Regular.ttf", "Lohit-Devanagari.ttf")
FC_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Fonts:
    """The font file of each script found (None: none), and the scripts that have none."""

    files: dict[str, Path | None] = field(default_factory=dict)

    @property
    def missing(self) -> list[str]:
        return [script for script, path in self.files.items() if path is None]

    def file_for(self, text: str) -> Path | None:
        """The face to set ``text`` in: Devanagari's when it has any (those faces carry Latin too), else Latin's
        (which covers Cyrillic where the Cyrillic face is the same file)."""
        if has_devanagari(text) and self.files.get("devanagari"):
            return self.files["devanagari"]
        if has_cyrillic(text) and self.files.get("cyrillic"):
            return self.files["cyrillic"]
        return self.files.get("latin") or self.files.get("cyrillic")

    def face(self, text: str, size: int) -> FontFace:
        path = self.file_for(text)
        return _face(str(path) if path else None, size)


@cache
def _face(path: str | None, size: int) -> FontFace:
    if path is None:
        return ImageFont.load_default(size)  # Pillow's bundled face: Latin only
    layout = ImageFont.Layout.RAQM if _raqm() else ImageFont.Layout.BASIC  # shaping: Devanagari needs it
    return ImageFont.truetype(path, size, layout_engine=layout)


@cache
def _raqm() -> bool:
    from PIL import features

    return bool(features.check("raqm"))


def has_devanagari(text: str) -> bool:
    return any("\u0900" <= ch <= "\u097f" or "\ua8e0" <= ch <= "\ua8ff" for ch in text)


def has_cyrillic(text: str) -> bool:
    return any("\u0400" <= ch <= "\u04ff" for ch in text)


def drop_emoji(text: str) -> str:
    """Text without emoji and their joiners and variation selectors, spaces tidied where one stood."""
    kept = []
    for ch in text:
        code = ord(ch)
        if code in (0x200D, 0xFE0F, 0xFE0E, 0x20E3) or 0x1F000 <= code <= 0x1FAFF or 0x2600 <= code <= 0x27BF:
            continue
        if unicodedata.category(ch) == "So" and code > 0x2000:
            continue
        kept.append(ch)
    return " ".join("".join(kept).split())


def _fontconfig(language: str) -> list[Path]:
    """The upright sans faces fontconfig knows for ``language``, preferred ones first."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return []
    try:
        listed = subprocess.run(  # noqa: S603 - a fixed program and arguments
            [fc_list, "-f", "%{file}|%{style[0]}\n", f":lang={language}"],
            capture_output=True,
            text=True,
            timeout=FC_TIMEOUT_S,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    files = []
    for line in listed.splitlines():
        file, _, style = line.partition("|")
        path = Path(file)
        if style not in ("Regular", "Book") or path.suffix.lower() not in (".ttf", ".otf"):
            continue
        if any(word in path.name for word in ("Mono", "Serif", "Condensed", "UI-")):
            continue
        files.append(path)
    return sorted(files, key=lambda p: (PREFERRED.index(p.name) if p.name in PREFERRED else len(PREFERRED), str(p)))


def _known(candidates: tuple[str, ...]) -> Path | None:
    for folder in FONT_DIRS:
        for candidate in candidates:
            if (folder / candidate).is_file():
                return folder / candidate
    return None


def find_fonts() -> Fonts:
    """A font file for each script: fontconfig's, else a known path; Latin falls back to Pillow's own face."""
    files: dict[str, Path | None] = {}
    for script, (language, candidates) in SCRIPTS.items():
        found = _fontconfig(language)
        files[script] = found[0] if found else _known(candidates)
    return Fonts(files)


def warn_missing(fonts: Fonts) -> None:
    """One line at start when a script has no font (its text would show as boxes)."""
    if fonts.missing:
        logger.warning(
            "no font for %s text on this machine: video cards in it show boxes; install fonts-dejavu-core "
            "fonts-lohit-deva (Debian, as the Dockerfile does) or any font fontconfig lists for it",
            " and ".join(fonts.missing),
        )
