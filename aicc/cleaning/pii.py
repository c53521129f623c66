"""PII masking that knows Chinese formats: resident ID numbers, mainland mobile numbers, bank
cards and e-mail addresses, each replaced by a token and counted.

A pattern alone over-masks (order numbers, timestamps), so every number is checked the way its
issuer checks it: an ID by its GB 11643 check digit and birth date, a card by Luhn. A number that
fails its check is left as it is. Kinds are masked in a fixed order, e-mails first (a QQ address
is often a phone number before the `@`), then IDs, cards and phones, so a later pattern never
sees digits an earlier one took.
"""

from __future__ import annotations

import datetime
import re
from collections import Counter
from collections.abc import Callable
from typing import Final

KINDS: Final = ("email", "id", "card", "phone")
TOKENS: Final = {"email": "[EMAIL]", "id": "[ID]", "card": "[CARD]", "phone": "[PHONE]"}

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# An ID: 17 digits and a check character, not inside a longer run of digits.
_ID = re.compile(r"(?<!\d)[1-9]\d{16}[\dXx](?![\dXx])")
# A card: 16-19 digits, plain or in groups of four split by one space or dash.
_CARD = re.compile(r"(?<!\d)(?:\d{16,19}|\d{4}(?:[ -]\d{4}){3}(?:[ -]?\d{1,3})?)(?!\d)")
# A mobile number: 1[3-9]x xxxx xxxx, optionally after +86 / 0086 / 86, separators as written.
_PHONE = re.compile(r"(?<![\d+])(?:(?:\+|00)?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)")

_DIGIT = re.compile(r"\d")

_ID_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK: Final = "10X98765432"


def id_valid(number: str) -> bool:
    """An 18-character resident ID number whose birth date exists and whose last character is
    the GB 11643-1999 check character of the first 17 digits."""
    if len(number) != 18 or not number[:17].isdecimal():
        return False
    try:
        datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    if not 1800 <= int(number[6:10]) <= 2100:
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def luhn_valid(number: str) -> bool:
    """The Luhn check of a card number (digits only)."""
    if not number.isdecimal():
        return False
    total = 0
    for i, d in enumerate(reversed(number)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _card_valid(text: str) -> bool:
    digits = text.replace(" ", "").replace("-", "")
    return 16 <= len(digits) <= 19 and luhn_valid(digits)


_RULES: Final[tuple[tuple[str, re.Pattern[str], Callable[[str], bool] | None], ...]] = (
    ("email", _EMAIL, None),
    ("id", _ID, id_valid),
    ("card", _CARD, _card_valid),
    ("phone", _PHONE, None),
)


def mask(text: str, counts: Counter[str] | None = None) -> str:
    """`text` with every e-mail, valid ID, valid card and phone replaced by its token;
    `counts` (if given) gains one per replacement, by kind."""
    for kind, pattern, check in _RULES:
        if kind == "email" and "@" not in text:
            continue
        if kind != "email" and _DIGIT.search(text) is None:
            break  # the numeric kinds need digits, and most text has none left
        text, found = _sub(pattern, TOKENS[kind], check, text)
        if found and counts is not None:
            counts[kind] += found
    return text


def _sub(
    pattern: re.Pattern[str], token: str, check: Callable[[str], bool] | None, text: str
) -> tuple[str, int]:
    found = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal found
        if check is not None and not check(match.group()):
            return match.group()
        found += 1
        return token

    return pattern.sub(replace, text), found
