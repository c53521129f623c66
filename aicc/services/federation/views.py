"""The federation context's read models (docs/federation.md): a peer site as operators see it,
what this site owes its peers, and the receipt of a peer's advert, as the services return them,
the API answers them, the portal shows them and the SDK parses them.

Pydantic, the standard library and `services.common` (the base `View`) only, so the SDK imports
this cheaply.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from aicc.services.common import View


class AdvertReceived(View):
    site: str
    received_at: datetime


# A peer as operators see it: its last advert, how old, and whether it counts as lost (no
# advert within lost_after_s, or never). A `tes` peer (any GA4GH TES server) sends no adverts
# and is always `up`. A comment, not a docstring: the OpenAPI document's description stays what
# it was.
class Site(View):
    site: str
    url: str
    kind: Literal["aicc", "tes"] = "aicc"
    jurisdiction: str | None
    state: Literal["up", "lost"]
    received_at: datetime | None
    age_s: float | None
    advert: dict[str, Any] | None


# What this site owes a peer for one job attempt that ran there.
class Settlement(View):
    id: int
    job_id: str
    attempt: int
    site: str
    remote_job_id: str
    amount: str
    currency: str
    state: Literal["open", "settled"]
    created_at: datetime
    settled_at: datetime | None
