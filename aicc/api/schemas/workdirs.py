"""Workdir uploads (`services.workdirs`)."""

from __future__ import annotations

from pydantic import BaseModel


class Workdir(BaseModel):
    sha256: str
    size: int
