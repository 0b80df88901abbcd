"""Scripts turned into source scenes by format: Fountain screenplays, Markdown, plain text."""

from __future__ import annotations

import time

import pytest

from core.errors import RejectReason, ScriptRejectedError
from core.formats import ParsedScript, SourceScene, parse_script, script_format
from core.fountain import SCREENPLAY_MAX_SCENE_S, SCREENPLAY_MIN_SCENE_S
from core.scripts import clean_script
from core.storyboard import local_duration_s

SCREENPLAY = """\
Title:
    _**BRICK & STEEL**_
    _**FULL RETIRED**_
Credit: Written by
Author:
    Stu Maschwitz
    Jane Doe
Draft date: 1/20/2012

A cold open. [[an inline note]] Rain.

/* This opening
was cut, and
stays cut */

# ACT ONE

= Brick meets Steel.

.SNOWY FIELD

INT. KITCHEN - DAY #1#

= The kitchen is where it starts.

Steel enters, *slowly*, with **great** _weight_.

[[A note on its own line.]]

STEEL
(quietly)
Have you ever been to *Paris*?

MARY (V.O.)
I remember it.

@McCLANE
Yippee ki-yay.

BRICK
Left side.

STEEL ^
Right side.

CUT TO:

EXT. STREET - NIGHT

int. house - night

INTERIOR DESIGN IS HARD.

===

I/E CAR - MOVING

> SMASH CUT:

EST. CITY SKYLINE

>THE END<

~Willy Wonka!
"""


def headings_and_frames(parsed: ParsedScript) -> list[tuple[str | None, tuple[str, ...]]]:
    return [(scene.heading, scene.frames) for scene in parsed.scenes]


def test_a_screenplay_becomes_one_scene_per_heading_with_its_action_and_dialogue() -> None:
    parsed = parse_script(SCREENPLAY, "brick.fountain")

    assert parsed.format == "fountain"
    assert parsed.title == "BRICK & STEEL FULL RETIRED"
    assert headings_and_frames(parsed) == [
        (None, ("A cold open. Rain.",)),
        ("SNOWY FIELD", ("SNOWY FIELD",)),
        (
            "INT. KITCHEN - DAY",
            (
                "Steel enters, slowly, with great weight.",
                "STEEL: (quietly) Have you ever been to Paris?",
                "MARY (V.O.): I remember it.",
                "McCLANE: Yippee ki-yay.",
                "BRICK: Left side.",
                "STEEL: Right side.",
            ),
        ),
        ("EXT. STREET - NIGHT", ("EXT. STREET - NIGHT",)),
        ("int. house - night", ("INTERIOR DESIGN IS HARD.",)),
        ("I/E CAR - MOVING", ("I/E CAR - MOVING",)),
        ("EST. CITY SKYLINE", ("THE END", "Willy Wonka!")),
    ]


def test_screenplay_durations_come_from_what_is_said_and_done() -> None:
    scenes = parse_script(SCREENPLAY, "brick.fountain").scenes

    # action at 15 characters a second, dialogue at 2.5 words a second (or its reading time, if longer)
    kitchen = 40 / 15 + 6 / 2.5 + 3 / 2.5 + 14 / 15 + 2 / 2.5 + 2 / 2.5
    assert scenes[2].duration_s == round(kitchen, 1) == 8.8
    assert scenes[0].duration_s == SCREENPLAY_MIN_SCENE_S  # 18 characters of action: the minimum
    assert scenes[1].duration_s == SCREENPLAY_MIN_SCENE_S  # a heading and nothing else


def test_a_dialogue_scene_lasts_longer_than_an_action_scene_of_the_same_characters() -> None:
    line = "We go up, we go in, we go out, and we do it now, all of us, in one go."
    action, dialogue = parse_script(f"INT. A\n\n{line}\n\nINT. B\n\nBOB\n{line}\n", "x.fountain").scenes

    assert action.frames == (line,)
    assert dialogue.frames == (f"BOB: {line}",)
    assert action.duration_s == round(len(line) / 15, 1) == 4.7
    assert dialogue.duration_s == round(len(line.split()) / 2.5, 1) == 8.0


def test_a_scene_duration_is_clamped_to_the_screenplay_range() -> None:
    long_action = "The camera drifts across the valley. " * 20
    (scene,) = parse_script(f"EXT. VALLEY\n\n{long_action}\n", "x.fountain").scenes

    assert scene.duration_s == SCREENPLAY_MAX_SCENE_S == 30.0
    assert scene.frames == (long_action.strip(),)  # kept whole: frames are cut to size later
    assert SCREENPLAY_MIN_SCENE_S == 3.0


def test_parentheticals_stay_in_parentheses_and_are_not_timed_as_speech() -> None:
    (scene,) = parse_script(
        "INT. ROOM\n\nANNA\n(to herself, very slowly and quietly)\nYes.\n(beat)\nNo.\n", "x.fountain"
    ).scenes

    assert scene.frames == ("ANNA: (to herself, very slowly and quietly) Yes. (beat) No.",)
    assert scene.duration_s == SCREENPLAY_MIN_SCENE_S  # two spoken words


def test_heading_forms_of_the_spec() -> None:
    text = """\
INT./EXT. BRICK'S CAR - DAY

Action one.

INT/EXT CAR

int. house - night #12A#

EXT. ROAD #I-1-A#

est. tower

i/e van

.a forced heading

...and then it was over.

INTERNAL AFFAIRS CALLS.

EXTRA! EXTRA!
"""
    parsed = parse_script(text, "x.fountain")

    assert [scene.heading for scene in parsed.scenes] == [
        "INT./EXT. BRICK'S CAR - DAY",
        "INT/EXT CAR",
        "int. house - night",
        "EXT. ROAD",
        "est. tower",
        "i/e van",
        "a forced heading",
    ]
    assert parsed.scenes[-1].frames == ("...and then it was over.", "INTERNAL AFFAIRS CALLS.", "EXTRA! EXTRA!")


def test_fade_in_and_fade_out_are_transitions_even_unforced() -> None:
    parsed = parse_script("FADE IN:\n\nINT. A\n\nRain.\n\nFADE OUT.\n\nFADE IN: the title card.\n", "x.fountain")

    assert headings_and_frames(parsed) == [("INT. A", ("Rain.", "FADE IN: the title card."))]


def test_a_heading_followed_at_once_by_action_still_starts_a_scene() -> None:
    (scene,) = parse_script("EXT. PARK - DAY\nJOHN\nHello there.\n", "x.fountain").scenes

    assert scene.heading == "EXT. PARK - DAY"
    assert scene.frames == ("JOHN: Hello there.",)


def test_a_title_page_with_inline_values_and_continuations_is_no_scene() -> None:
    text = (
        "Title: The Long Night\nAuthor: Ann Lee\n    and Bo Chan\nContact:\n\tann@example.com\n\nINT. HALL\n\nA door.\n"
    )
    parsed = parse_script(text, "x.fountain")

    assert parsed.title == "The Long Night"
    assert headings_and_frames(parsed) == [("INT. HALL", ("A door.",))]


def test_a_title_page_without_a_title_gives_none_and_a_colon_in_action_is_no_title_page() -> None:
    untitled = parse_script("Author: Ann Lee\n\nINT. HALL\n\nA door.\n", "x.fountain")
    action = parse_script("Night: the city sleeps.\n\nINT. HALL\n\nA door.\n", "x.fountain")

    assert untitled.title is None
    assert headings_and_frames(untitled) == [("INT. HALL", ("A door.",))]
    assert action.title is None
    assert headings_and_frames(action) == [(None, ("Night: the city sleeps.",)), ("INT. HALL", ("A door.",))]


def test_a_screenplay_with_only_a_title_page_has_no_scene() -> None:
    with pytest.raises(ValueError, match="no scene"):
        parse_script("Title: Nothing Yet\nAuthor: Me\n", "x.fountain")
    with pytest.raises(ValueError, match="no scene"):
        parse_script("/* all of it\ncut */\n\n[[just a note]]\n\n# Act\n\n= synopsis\n\n===\n", "x.fountain")


def test_notes_boneyard_sections_synopses_and_page_breaks_leave_no_trace() -> None:
    text = """\
EXT. BEACH

Waves. /* cut: gulls */ Sand.
Wind [[a note
over two lines]] rises.

## Sequence two

= A synopsis after action.

====

/* a boneyard
over

blank lines */

He runs.
"""
    (scene,) = parse_script(text, "x.fountain").scenes

    assert scene.frames == ("Waves. Sand. Wind rises.", "He runs.")


def test_an_unclosed_boneyard_or_note_keeps_its_text() -> None:
    (scene,) = parse_script("INT. A\n\nShe types /* and [[ waits.\n", "x.fountain").scenes

    assert scene.frames == ("She types /* and [[ waits.",)


def test_forced_action_centered_lyrics_and_escaped_emphasis() -> None:
    text = """\
INT. CLUB

!SCREAMING FANS
Everywhere.

> THE SHOW <
> BEGINS <

~Happy birthday
~to you

He pays \\*5\\* and _*half*_ of ***it***.
"""
    (scene,) = parse_script(text, "x.fountain").scenes

    assert scene.frames == (
        "SCREAMING FANS Everywhere.",
        "THE SHOW BEGINS",
        "Happy birthday to you",
        "He pays *5* and half of it.",
    )


def test_crlf_line_endings_and_a_bom_are_read_the_same() -> None:
    text = "\ufeffTitle: CR\r\n\r\nINT. A\r\n\r\nBOB\r\nHi.\r\n"
    parsed = parse_script(text, "x.fountain")

    assert parsed.title == "CR"
    assert headings_and_frames(parsed) == [("INT. A", ("BOB: Hi.",))]


def test_pathological_screenplays_parse_in_linear_time() -> None:
    size = 100_000
    cases = {
        "/* a" * (size // 4): "/* a" * (size // 4),
        "[[a" * (size // 3): "[[a" * (size // 3),
        "**a " * (size // 4): ("**a " * (size // 4)).strip(),
        "*a" + "**" * (size // 2): "*a" + "**" * (size // 2),
        "_" * size: "_" * size,
        "\\*" * (size // 2): "*" * (size // 2),
    }
    for text, frame in cases.items():
        started = time.perf_counter()
        (scene,) = parse_script(text, "x.fountain").scenes
        elapsed_s = time.perf_counter() - started
        assert scene.frames == (frame,)
        print(f"{text[:6]!r}... {elapsed_s:.3f} s")
    many_headings = "INT. A\n\n" * (size // 8)
    assert len(parse_script(many_headings, "x.fountain").scenes) == size // 8


MARKDOWN = """\

# The *Heist*

**INT. ROOM**

- A man *waits* by the [door](https://example.com/a_b).
* He checks his `watch_face`.
1. The clock ~~ticks~~ strikes twelve.
> She whispers: \\*now\\*.
> > - [x] Done.

---
***
* * *
___

```text
code **line** stays
```

![a map](map.png)
<b>Lights</b> go out.<br/>
## A second heading ##
Plain line with snake_case_name and 5 * 3.
<!-- a comment
over lines -->
Visit <https://example.com> now.
Setext heading
==============
"""


def test_markdown_loses_its_markup_one_scene_per_line() -> None:
    parsed = parse_script(MARKDOWN, "heist.md")

    assert parsed.format == "markdown"
    assert parsed.title == "The Heist"
    assert [scene.frames for scene in parsed.scenes] == [
        ("INT. ROOM",),
        ("A man waits by the door.",),
        ("He checks his watch_face.",),
        ("The clock ticks strikes twelve.",),
        ("She whispers: *now*.",),
        ("Done.",),
        ("code **line** stays",),
        ("Lights go out.",),
        ("A second heading",),
        ("Plain line with snake_case_name and 5 * 3.",),
        ("Visit https://example.com now.",),
        ("Setext heading",),
    ]
    assert all(scene.duration_s == local_duration_s(scene.frames[0]) for scene in parsed.scenes)
    assert all(scene.heading is None for scene in parsed.scenes)


def test_a_markdown_title_is_only_a_level_one_heading_on_the_first_line() -> None:
    second_level = parse_script("## Not a title\n# Nor this\ntext", "a.markdown")
    later = parse_script("text\n# Late", "a.md")

    assert second_level.title is None
    assert [scene.text for scene in second_level.scenes] == ["Not a title", "Nor this", "text"]
    assert later.title is None
    assert [scene.text for scene in later.scenes] == ["text", "Late"]


def test_markdown_keeps_what_only_looks_like_markup() -> None:
    text = (
        "Intro\n1984.\n2. Second\n#hashtag\n-dash\n*not a list\nC# is a language\n# C#\na_b and 2*3*4\n[just brackets]"
    )
    parsed = parse_script(text, "a.md")

    assert [scene.text for scene in parsed.scenes] == [
        "Intro",
        "1984.",
        "Second",
        "#hashtag",
        "-dash",
        "*not a list",
        "C# is a language",
        "C#",
        "a_b and 234",
        "[just brackets]",
    ]


def test_markdown_made_only_of_markup_has_no_scene() -> None:
    with pytest.raises(ValueError, match="no scene"):
        parse_script("# Title only\n\n---\n```\n```\n<br>\n![x](y.png)\n", "a.md")


def test_pathological_markdown_parses_in_linear_time() -> None:
    size = 100_000
    cases = {
        "[" * size: "[" * size,
        "[a](" * (size // 4): "[a](" * (size // 4),
        "![a](" * (size // 5): "![a](" * (size // 5),
        "<" * size: "<" * size,
        "<a" * (size // 2): "<a" * (size // 2),
        "a" + "`" * size: "a" + "`" * size,  # (a line that starts with them opens a fence)
        "".join("`" * n + "a" for n in range(1, 440)): "".join("`" * n + "a" for n in range(1, 440)),
        "*a" * (size // 2): "a" * (size // 2),  # each pair of stars is an emphasis
        "**a " * (size // 4): ("**a " * (size // 4)).strip(),
        "_a " * (size // 3): ("_a " * (size // 3)).strip(),
        "\\" * size: "\\" * (size // 2),
        "<!--" * (size // 4): "<!--" * (size // 4),
    }
    for text, frame in cases.items():
        started = time.perf_counter()
        (scene,) = parse_script(text, "x.md").scenes
        elapsed_s = time.perf_counter() - started
        assert scene.frames == (frame,), text[:12]
        print(f"{text[:6]!r}... {elapsed_s:.3f} s")


def test_plain_text_keeps_one_scene_per_line_and_its_markup() -> None:
    text = "# not a title here\n\n  **bold stays**  \n\u200b\nINT. HOUSE - DAY\n"
    for name in (None, "script.txt", "notes.TXT", "noextension", "film.rtf"):
        parsed = parse_script(text, name)

        assert parsed.format == "text"
        assert parsed.title is None  # plain text names none: the storyboard's is its first line, or the LM's
        assert parsed.scenes == (
            SourceScene(frames=("# not a title here",), duration_s=local_duration_s("# not a title here")),
            SourceScene(frames=("**bold stays**",), duration_s=local_duration_s("**bold stays**")),
            SourceScene(frames=("INT. HOUSE - DAY",), duration_s=local_duration_s("INT. HOUSE - DAY")),
        )


def test_a_long_plain_line_stays_one_frame() -> None:
    line = "word " * 100
    (scene,) = parse_script(line).scenes

    assert scene.frames == (line.strip(),)


def test_an_empty_script_has_no_scene_in_any_format() -> None:
    for name in (None, "a.md", "a.fountain"):
        with pytest.raises(ValueError, match="no scene"):
            parse_script("  \n\u200b\n", name)


def test_scene_text_joins_its_frames_with_newlines() -> None:
    scene = SourceScene(frames=("BOB: Hi.", "He leaves."), duration_s=3.0, heading="INT. A")

    assert scene.text == "BOB: Hi.\nHe leaves."


def test_script_format_goes_by_extension_whatever_its_case() -> None:
    assert script_format("SCRIPT.FOUNTAIN") == "fountain"
    assert script_format("dir/my.script.fountain") == "fountain"
    assert script_format("a.MD") == "markdown"
    assert script_format("a.Markdown") == "markdown"
    assert script_format("x.txt") == "text"
    assert script_format("fountain") == "text"
    assert script_format("md") == "text"
    assert script_format("") == "text"
    assert script_format(None) == "text"


def test_clean_script_counts_the_scenes_of_the_format() -> None:
    screenplay = "Title: Three\n\nINT. A\n\nOne.\nTwo.\nThree.\n\nINT. B\n\nEXT. C\n"

    assert clean_script(screenplay, max_chars=1000, max_scenes=3, file_name="s.fountain") == screenplay.strip()
    with pytest.raises(ScriptRejectedError) as too_many:
        clean_script(screenplay, max_chars=1000, max_scenes=2, file_name="s.fountain")
    assert (too_many.value.reason, too_many.value.size, too_many.value.limit) == (RejectReason.TOO_MANY_SCENES, 3, 2)
    with pytest.raises(ScriptRejectedError) as as_text:
        clean_script(screenplay, max_chars=1000, max_scenes=3)
    assert (as_text.value.reason, as_text.value.size) == (RejectReason.TOO_MANY_SCENES, 7)


def test_clean_script_rejects_a_script_whose_format_yields_no_scene_as_empty() -> None:
    for text, name in [("Title: Only\nAuthor: Me\n", "t.fountain"), ("# Only a title\n---\n", "t.md")]:
        with pytest.raises(ScriptRejectedError) as empty:
            clean_script(text, max_chars=1000, max_scenes=10, file_name=name)
        assert empty.value.reason is RejectReason.EMPTY
    assert clean_script("Title: Only\n", max_chars=100, max_scenes=10) == "Title: Only"


def test_clean_script_checks_the_length_before_parsing() -> None:
    with pytest.raises(ScriptRejectedError) as too_long:
        clean_script("INT. A\n\n" + "x" * 200, max_chars=100, max_scenes=10, file_name="a.fountain")
    assert too_long.value.reason is RejectReason.TOO_LONG


def test_markdown_keeps_angle_bracket_words_that_are_not_html() -> None:
    parsed = parse_script("<beat>\nHe <whispers> hi\n<b>Bold</b> and <!-- a comment --> on", "a.md")
    assert [scene.frames for scene in parsed.scenes] == [("<beat>",), ("He <whispers> hi",), ("Bold and on",)]
