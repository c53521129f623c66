"""The mark of a transaction that changed what the control loops act on.

No route wakes the loops. A service whose transaction changes what they act on (a submit, a
cancel, a deployment's stop, a cordon, a power cap) calls `changed(session)`; the server wires
the loops' wake to run once after each commit of a marked transaction
(`Database.on_marked_commit`, in api/state.py), never after a rollback: the loop always finds
the change committed, and no face can forget to wake it. The loops' own transactions mark
nothing (`looping`): a pass sees what it wrote itself at its next pass.

It imports nothing of the house, so that any service may mark a session.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

# The key in `Session.info` of a transaction that changed what the loops act on.
CHANGED = "aicc.loops_changed"
_loop = threading.local()  # `on`: this thread runs a loop's step (`looping`)


def changed(session: Session) -> None:
    """This transaction changes what the loops act on: wake them once it commits (and not if
    it rolls back). In a loop's own step, nothing: the loop sees it at its next pass anyway."""
    if not getattr(_loop, "on", False):
        session.info[CHANGED] = True


@contextmanager
def looping() -> Iterator[None]:
    """A loop's work on this thread: what it commits wakes no loop (a pass that changes
    something each time would otherwise wake itself forever)."""
    before = getattr(_loop, "on", False)
    _loop.on = True
    try:
        yield
    finally:
        _loop.on = before
