"""What clients send about images: a repository's new visibility."""

from __future__ import annotations

from typing import Literal

from aicc.api.schemas.common import Body


class ImagePatch(Body):
    visibility: Literal["private", "org", "public"]
