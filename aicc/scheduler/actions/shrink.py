"""Shrink: a job that does not fit takes back the replicas elastic jobs grew into while nothing
waited, before anything is preempted (elastic.py); it then waits for them to stop."""

from __future__ import annotations

from aicc.scheduler import elastic
from aicc.scheduler.actions.base import Action

ACTION = Action("shrink", "unfit", elastic.shrink)
