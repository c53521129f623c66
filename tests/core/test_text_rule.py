"""The one rule for text a person reads (issue 57): a name or title is one clean line, a
description keeps its line breaks and tabs, and neither holds a NUL, another control character
or a direction override; text stored before the rule is shown with those as escapes."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, Field, ValidationError

from aicc.core.mistakes import InputError
from aicc.core.text import LINE, PROSE, one_line, prose, visible

# Every character the rule refuses in a line, one of each kind.
HOSTILE = {
    "NUL": "\x00",
    "CR": "\r",
    "LF": "\n",
    "tab": "\t",
    "escape": "\x1b",
    "DEL": "\x7f",
    "C1 CSI": "\x9b",
    "line separator": "\u2028",
    "LRE": "\u202a",
    "RLO": "\u202e",
    "LRI": "\u2066",
    "PDI": "\u2069",
    "LRM": "\u200e",
    "RLM": "\u200f",
    "ALM": "\u061c",
    "lone surrogate": "\ud800",
}
FINE = ["图像分类-训练", "Sort the citizens' letters", "naïve café — 2 × 3", "مرحبا", "שלום", "😀"]


class Named(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=64), LINE]
    about: Annotated[str | None, Field(max_length=4000), PROSE] = None


@pytest.mark.parametrize("text", FINE)
def test_ordinary_text_in_any_script_passes(text: str) -> None:
    assert one_line(text) == text and prose(text) == text
    assert Named(name=text, about=f"{text}\n\t{text}\r\n").name == text
    assert visible(text) == text


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_line_refuses_each_control_and_direction_character(kind: str) -> None:
    char = HOSTILE[kind]
    with pytest.raises(InputError) as refused:
        one_line(f"exe{char}txt")
    code = f"U+{ord(char):04X}"
    assert str(refused.value) == (
        "must be one line with no control characters or direction overrides: "
        f"remove {code} at character 4"
    )
    assert refused.value.params == {"char": code, "at": 4}


@pytest.mark.parametrize("kind", sorted(set(HOSTILE) - {"CR", "LF", "tab"}))
def test_prose_refuses_them_too_but_line_breaks_and_tabs(kind: str) -> None:
    with pytest.raises(InputError, match=r"\(line breaks and tabs are fine\): remove U\+"):
        prose(f"first line\r\nsecond{HOSTILE[kind]}")
    assert prose("first line\r\nsecond\tcolumn\n") == "first line\r\nsecond\tcolumn\n"


def test_a_model_names_the_field_and_what_to_fix() -> None:
    with pytest.raises(ValidationError) as refused:
        Named(name="report\u202etxt.exe", about="ok\x00")
    errors = refused.value.errors(include_url=False)
    assert [e["loc"] for e in errors] == [("name",), ("about",)]
    assert "remove U+202E at character 7" in errors[0]["msg"]
    assert "remove U+0000 at character 3" in errors[1]["msg"]
    assert isinstance(errors[0]["ctx"]["error"], InputError)  # the portal translates its template


def test_the_bounds_still_hold_beside_the_rule() -> None:
    """Checked after the bounds, which keep their own words and JSON Schema."""
    with pytest.raises(ValidationError, match="String should have at most 64 characters"):
        Named(name="x" * 65 + "\x00")
    with pytest.raises(ValidationError, match="String should have at least 1 character"):
        Named(name="")
    assert Named(name="x").about is None
    schema = Named.model_json_schema()["properties"]
    assert schema["name"] == {"maxLength": 64, "minLength": 1, "title": "Name", "type": "string"}


def test_stored_text_is_shown_with_escapes() -> None:
    assert visible("exe\u202etxt") == "exe\\u202etxt"
    assert visible("\x1b[2Jgone\x00") == "\\x1b[2Jgone\\x00"
    assert visible("a\r\nb") == "a\\x0d\\x0ab"
    # a page or a field keeps the lines of a description, not what else hides in it
    assert visible("a\r\nb\tc\u2066", lines=True) == "a\r\nb\tc\\u2066"
