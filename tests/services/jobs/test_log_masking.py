"""A job's secrets in its log read `***`, also where a tail or a followed piece cuts one."""

from __future__ import annotations

from aicc.services.jobs.logs import MASK, mask

VALUE = "hunter2-very-secret"


CUT = {"cut_before": True, "cut_after": True}
WHOLE = {"cut_before": False, "cut_after": False}


def test_a_value_is_masked_wherever_it_shows() -> None:
    text = f"token={VALUE}\nagain {VALUE}{VALUE}\n"
    assert mask(text, [VALUE], **WHOLE) == f"token={MASK}\nagain {MASK}{MASK}\n"


def test_a_value_cut_by_either_edge_is_masked() -> None:
    assert mask(VALUE[5:] + "\nnext", [VALUE], **CUT) == f"{MASK}\nnext"  # a tail inside it
    assert mask("line\nkey=" + VALUE[:9], [VALUE], **CUT) == f"line\nkey={MASK}"  # still writing
    # fewer than four characters of it at an edge are left: they would mask ordinary text
    assert mask(VALUE[-3:] + " ok", [VALUE], **CUT) == VALUE[-3:] + " ok"
    # where nothing was cut (a whole log of an ended job), its edges are plain text
    assert mask("hunter2 the end", [VALUE], **WHOLE) == "hunter2 the end"
    assert mask("key=hunter2", [VALUE], **WHOLE) == "key=hunter2"


def test_longer_values_first_and_plain_text_untouched() -> None:
    inner, outer = "abcd1234", "xx-abcd1234-yy"
    assert mask(f"{outer} {inner}", [outer, inner], **WHOLE) == f"{MASK} {MASK}"
    assert mask("nothing to hide\n", [VALUE], **CUT) == "nothing to hide\n"
