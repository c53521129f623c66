"""Filters and language detection from Unicode scripts."""

from __future__ import annotations

import pytest

from aicc.cleaning.filters import Filter
from aicc.cleaning.language import language


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("今天天气很好，我们去公园散步吧。", "zh"),
        ("我们用PyTorch训练模型，再用vLLM部署。", "zh"),
        ("The weather is nice today and we are going to the park.", "en"),
        ("Hello world", "en"),
        ("Le chat est sur la table et il dort dans la cuisine.", "fr"),
        ("Der Hund ist nicht in dem Haus, und die Katze auch nicht.", "de"),
        ("El perro está en la casa y el gato duerme con los niños.", "es"),
        ("今日はとても良い天気ですね。散歩に行きましょう。", "ja"),
        ("오늘은 날씨가 정말 좋네요.", "ko"),
        ("Сегодня хорошая погода, и мы идём в парк.", "ru"),
        ("12345 -- 678", "und"),
    ],
)
def test_language_from_scripts(text: str, lang: str) -> None:
    assert language(text) == lang


def test_filter_names_the_reason_for_each_dropped_text() -> None:
    keep = Filter(min_chars=5, max_chars=40, langs=frozenset({"zh", "en"}))
    assert keep.reason("   \t ") == "empty"
    assert keep.reason("hi") == "short"
    assert keep.reason("这是一条足够长的中文句子。") is None
    assert keep.reason("The model is trained on the data.") is None
    assert keep.reason("x" * 41) == "long"
    assert keep.reason("Le chat est sur la table.") == "lang"
    assert Filter().reason("a") is None and Filter().reason("") == "empty"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_chars": -1}, "min chars -1"),
        ({"min_chars": 10, "max_chars": 5}, "max chars 5"),
        ({"langs": frozenset({"zh", "klingon"})}, "unknown language klingon"),
    ],
)
def test_bad_filter_options_say_what_to_fix(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Filter(**kwargs)  # type: ignore[arg-type]
