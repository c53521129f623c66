"""Which language a text is in, from its Unicode scripts: no model to download, and good enough
to keep the zh and en lines of a crawl.

Ideographic and syllabic scripts count one unit per character, alphabetic ones one per word, so
"我们用PyTorch训练" is Chinese. Han with a fair share of kana is Japanese. Latin-script text is
told apart by its most common words (en, fr, de, es, it, pt); ASCII-only Latin text without any
of them counts as English, anything else without a signal as `und` (undetermined).
"""

from __future__ import annotations

import re
from typing import Final

UNDETERMINED: Final = "und"

# Characters of scripts written without spaces, one unit each.
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]+")
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff]+")
_BY_CHAR: Final = {
    "ko": re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]+"),
    "th": re.compile(r"[\u0e00-\u0e7f]+"),
}
# Alphabetic scripts, one unit per word.
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]+")
_BY_WORD: Final = {
    "ru": re.compile(r"[\u0400-\u04ff]+"),
    "ar": re.compile(r"[\u0600-\u06ff\u0750-\u077f]+"),
    "hi": re.compile(r"[\u0900-\u097f]+"),
    "el": re.compile(r"[\u0370-\u03ff]+"),
    "he": re.compile(r"[\u0590-\u05ff]+"),
}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_STOPWORDS: Final = {
    "en": _words(
        "the and of to is in that it was for with are this be on you have not but at from they "
        "we he she his her by or an will would there their what which"
    ),
    "fr": _words(
        "le la les des est et une un du dans que qui pour pas sur au avec ce il elle nous vous "
        "sont mais ou"
    ),
    "de": _words(
        "der die das und ist nicht ein eine zu den von mit sich des auf für im dem auch es ich "
        "wir sie sind"
    ),
    "es": _words("el la los las de que y en un una es por con para del se no lo como más pero su"),
    "it": _words("il la di che e è un una per non del della sono con gli le ma come anche"),
    "pt": _words("o os as de que e do da em um uma para com não é dos das no na por mais se"),
}
_COMMON: Final = {
    word: tuple(lang for lang, stop in _STOPWORDS.items() if word in stop)
    for word in set().union(*_STOPWORDS.values())
}
_SAMPLE: Final = 200  # words: enough to tell, and a long document costs no more
LANGUAGES: Final = frozenset({"zh", "ja", *_BY_CHAR, *_BY_WORD, *_STOPWORDS, UNDETERMINED})


def _units(pattern: re.Pattern[str], text: str) -> int:
    return sum(map(len, pattern.findall(text)))


def _latin(words: list[str]) -> str:
    """The language whose common words the first `_SAMPLE` words hit most (the first listed
    on a tie)."""
    hits = dict.fromkeys(_STOPWORDS, 0)
    for word in words[:_SAMPLE]:
        for lang in _COMMON.get(word.lower(), ()):
            hits[lang] += 1
    best = max(hits, key=hits.__getitem__)
    if hits[best]:
        return best
    return "en" if all(w.isascii() for w in words[:_SAMPLE]) else UNDETERMINED


def language(text: str) -> str:
    """The ISO 639-1 code of the script (and for Latin, the words) that dominates `text`."""
    if text.isascii():  # most of a crawl: only Latin can be there
        words = _LATIN.findall(text)
        return _latin(words) if words else UNDETERMINED
    han, kana = _units(_HAN, text), _units(_KANA, text)
    counts: dict[str, int] = {"ja" if kana * 5 > han + kana else "zh": han + kana}
    counts |= {lang: _units(pattern, text) for lang, pattern in _BY_CHAR.items()}
    counts |= {lang: len(pattern.findall(text)) for lang, pattern in _BY_WORD.items()}
    latin = _LATIN.findall(text)
    counts["latin"] = len(latin)
    lang, units = max(counts.items(), key=lambda item: item[1])
    if units == 0:
        return UNDETERMINED
    return _latin(latin) if lang == "latin" else lang
