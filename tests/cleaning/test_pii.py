"""PII masking: numbers masked only when their issuer's check passes, tokens in place, counts."""

from __future__ import annotations

from collections import Counter

import pytest

from aicc.cleaning.pii import id_valid, luhn_valid, mask

ID = "11010519491231002X"  # GB 11643-1999's own example
ID_2 = "110101199003074514"
CARD_16 = "6228480040012343"
CARD_19 = "6222021001123456789"


def _masked(text: str) -> tuple[str, Counter[str]]:
    counts: Counter[str] = Counter()
    return mask(text, counts), counts


def test_valid_ids_pass_their_check_and_any_one_digit_changed_fails() -> None:
    assert id_valid(ID) and id_valid(ID_2) and id_valid(ID.lower())
    for i in range(17):
        for d in "0123456789":
            if d != ID_2[i]:
                assert not id_valid(ID_2[:i] + d + ID_2[i + 1 :]), (i, d)
    assert not id_valid(ID_2[:17] + "5")


def test_an_id_with_an_impossible_birth_date_is_not_an_id() -> None:
    # The check character is right for these 17 digits, but there is no 30 February.
    digits = "11010119900230451"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    check = "10X98765432"[sum(int(c) * w for c, w in zip(digits, weights, strict=True)) % 11]
    assert not id_valid(digits + check)
    assert mask(f"证件 {digits + check}") == f"证件 {digits + check}"


def test_ids_in_chinese_text_are_masked_and_ids_failing_the_check_are_not() -> None:
    text, counts = _masked(f"张三，身份证号{ID}，住址北京；李四身份证：{ID_2}。")
    assert text == "张三，身份证号[ID]，住址北京；李四身份证：[ID]。"
    assert counts["id"] == 2
    wrong = ID_2[:17] + "5"
    text, counts = _masked(f"身份证号{wrong}")
    assert text == f"身份证号{wrong}" and counts["id"] == 0


def test_an_id_inside_a_longer_number_is_left_alone() -> None:
    assert mask(f"订单号 9{ID_2}7") == f"订单号 9{ID_2}7"


@pytest.mark.parametrize(
    "phone",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "+86 138 1234 5678",
        "+8613812345678",
        "86-13812345678",
        "008613812345678",
        "19912345678",
    ],
)
def test_mobile_numbers_in_their_written_forms_are_masked(phone: str) -> None:
    text, counts = _masked(f"联系电话：{phone}，工作日可打")
    assert text == "联系电话：[PHONE]，工作日可打"
    assert counts["phone"] == 1


@pytest.mark.parametrize(
    "number", ["12812345678", "1381234567", "138123456789", "010-12345678", "2023-0815-1234"]
)
def test_numbers_that_are_not_mainland_mobiles_stay(number: str) -> None:
    assert mask(f"编号 {number} 结束") == f"编号 {number} 结束"


def test_luhn_valid_cards_are_masked_and_one_digit_off_is_not() -> None:
    assert luhn_valid(CARD_16) and luhn_valid(CARD_19) and luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    grouped = " ".join(CARD_16[i : i + 4] for i in range(0, 16, 4))
    text, counts = _masked(f"卡号 {CARD_16}，备用卡 {CARD_19}，旧卡 {grouped}")
    assert text == "卡号 [CARD]，备用卡 [CARD]，旧卡 [CARD]"
    assert counts["card"] == 3
    off = CARD_16[:-1] + str((int(CARD_16[-1]) + 1) % 10)
    assert mask(f"卡号 {off}") == f"卡号 {off}"


def test_emails_are_masked_even_when_the_local_part_is_a_phone_number() -> None:
    text, counts = _masked("邮箱 zhang.san+ai@example.com.cn 或 13812345678@qq.com，谢谢")
    assert text == "邮箱 [EMAIL] 或 [EMAIL]，谢谢"
    assert counts == Counter({"email": 2})


def test_every_kind_in_one_text_is_counted_by_kind() -> None:
    text, counts = _masked(
        f"Name: Li Lei, ID {ID}, tel +86 139-1234-5678, card {CARD_19}, mail li@corp.cn; "
        "and again tel 13912345678."
    )
    assert text == (
        "Name: Li Lei, ID [ID], tel [PHONE], card [CARD], mail [EMAIL]; and again tel [PHONE]."
    )
    assert counts == Counter({"id": 1, "phone": 2, "card": 1, "email": 1})


def test_text_without_pii_is_returned_unchanged() -> None:
    text = "The job ran 3 epochs in 12.5 s on 8 GPUs; 今天训练了 1000 步。"
    assert _masked(text) == (text, Counter())
