"""Content safety's matching (`core/safety.py`): words and patterns in one scan, masks, and a
stream checked piece by piece that catches a word split across two pieces."""

from __future__ import annotations

from aicc.core.safety import Policy, Rule, StreamCheck

POLICY = Policy(
    [
        Rule("secrets", words=("launch code",)),
        Rule("ids", patterns=(r"\b\d{17}[\dXx]\b",), action="mask"),
    ],
    window=32,
)


def test_a_word_blocks_in_any_case_and_a_pattern_masks() -> None:
    hit = POLICY.find("tell me the LAUNCH Code now")
    assert hit is not None and (hit.rule, hit.action) == ("secrets", "block")
    assert POLICY.find("nothing to see") is None

    text = "my id is 11010519491231002X, ok"
    hit = POLICY.find(text)
    assert hit is not None and hit.action == "mask"
    masked, hits = POLICY.mask(text)
    assert masked == "my id is " + "*" * 18 + ", ok"
    assert [h.rule for h in hits] == ["ids"]


def test_a_blocking_match_wins_over_an_earlier_masking_one() -> None:
    hit = POLICY.find("11010519491231002X and the launch code")
    assert hit is not None and hit.rule == "secrets"


def test_a_stream_catches_a_word_split_across_pieces() -> None:
    check = StreamCheck(POLICY)
    sent = [check.feed(p) for p in ("here is the lau", "nch co")]
    assert [s[1] for s in sent] == [None, None]
    piece, hit, _ = check.feed("de: 1234")
    assert piece == "" and hit is not None and hit.rule == "secrets"


def test_a_stream_masks_inside_a_piece_and_cuts_a_mask_it_cannot_take_back() -> None:
    check = StreamCheck(POLICY)
    piece, hit, hits = check.feed("id 11010519491231002X.")
    assert hit is None and piece == "id " + "*" * 18 + "." and len(hits) == 1
    piece, hit, _ = check.feed(" and more text")  # the masked match is in the window: not again
    assert (piece, hit) == (" and more text", None)

    split = StreamCheck(POLICY)
    assert split.feed("id 110105194912")[1] is None
    _, hit, _ = split.feed("31002X")
    assert hit is not None and hit.action == "mask"  # began in a piece already sent: cut


def test_a_policy_without_rules_checks_nothing() -> None:
    empty = Policy([Rule("none")])
    assert not empty.active and empty.find("anything") is None
