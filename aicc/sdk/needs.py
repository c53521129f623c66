"""`client.needs` and `client.challenges`: the catalog of needs (供需对接) and the challenges
on their hidden sets (揭榜挂帅), as `services.needs.views` describes them. A need or a challenge
is named by its id, or its name in your organization (`org=` names another's)."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from aicc.sdk.maintenance import _iso
from aicc.sdk.transport import Resource, api_path
from aicc.services.needs.views import (
    Award,
    Board,
    Challenge,
    Need,
    Question,
    Submission,
    Team,
)


def _org(org: str | None) -> dict[str, str]:
    return {"org": org} if org else {}


class Needs(Resource):
    def list(self, text: str | None = None, *, state: str | None = None) -> builtins.list[Need]:
        """The catalog, newest first; `text` finds words in a name, title or problem."""
        params = {k: v for k, v in (("q", text), ("state", state)) if v}
        return self._items(Need, api_path("needs"), params)

    def get(self, need: str, *, org: str | None = None) -> Need:
        return self._one(Need, "GET", api_path("needs", need), params=_org(org))

    def create(
        self,
        name: str,
        *,
        title: str,
        problem: str,
        metric: str,
        deadline: datetime | str,
        reward: Decimal | str | int = 0,
        currency: str = "CNY",
        data: str | None = None,
        project: str | None = None,
        results_owner: str = "poster",
        data_may_leave: bool = False,
    ) -> Need:
        """Post a need; `data` a public data set version providers train on; the reward is
        held in escrow until it is awarded or the need withdrawn."""
        body: dict[str, Any] = {
            "name": name,
            "title": title,
            "problem": problem,
            "metric": metric,
            "deadline": _iso(deadline),
            "reward": str(reward),
            "currency": currency,
            "data": data,
            "project": project,
            "terms": {"results_owner": results_owner, "data_may_leave": data_may_leave},
        }
        return self._one(Need, "POST", api_path("needs"), json=body)

    def withdraw(self, need: str, *, org: str | None = None) -> Need:
        return self._one(Need, "POST", api_path("needs", need, "withdraw"), params=_org(org))

    def questions(self, need: str, *, org: str | None = None) -> builtins.list[Question]:
        path = api_path("needs", need, "questions")
        return [
            Question.model_validate(q) for q in self._t.call("GET", path, params=_org(org))["items"]
        ]

    def ask(self, need: str, text: str, *, org: str | None = None) -> Question:
        path = api_path("needs", need, "questions")
        return self._one(Question, "POST", path, json={"text": text}, params=_org(org))

    def answer(self, need: str, question: str, text: str) -> Question:
        """The poster's public answer to `question` (its id)."""
        path = api_path("needs", need, "questions", question, "answer")
        return self._one(Question, "POST", path, json={"text": text})


class Challenges(Resource):
    def list(self) -> builtins.list[Challenge]:
        return self._items(Challenge, api_path("challenges"))

    def get(self, challenge: str, *, org: str | None = None) -> Challenge:
        return self._one(Challenge, "GET", api_path("challenges", challenge), params=_org(org))

    def create(
        self,
        need: str,
        *,
        hidden: str,
        target: str,
        table: str | None = None,
        public_pct: int = 30,
        per_day: int = 5,
        max_runtime_s: int = 600,
    ) -> Challenge:
        """Make your need a challenge on `hidden`, your private data set version with the
        answers in column `target`."""
        body = {
            "hidden": hidden,
            "target": target,
            "table": table,
            "public_pct": public_pct,
            "per_day": per_day,
            "max_runtime_s": max_runtime_s,
        }
        return self._one(Challenge, "POST", api_path("needs", need, "challenge"), json=body)

    def join(self, challenge: str, team: str, *, org: str | None = None) -> Team:
        path = api_path("challenges", challenge, "join")
        return self._one(Team, "POST", path, json={"team": team}, params=_org(org))

    def invite(self, challenge: str, invited: str, *, org: str | None = None) -> Team:
        """Invite organization `invited` into your team."""
        path = api_path("challenges", challenge, "invite")
        return self._one(Team, "POST", path, json={"org": invited}, params=_org(org))

    def submit(
        self, challenge: str, model: str, *, project: str | None = None, org: str | None = None
    ) -> Submission:
        """Submit your model version (NAME@N) to be scored on the hidden set."""
        path = api_path("challenges", challenge, "submissions")
        body = {"model": model, "project": project}
        return self._one(Submission, "POST", path, json=body, params=_org(org))

    def submissions(self, challenge: str, *, org: str | None = None) -> builtins.list[Submission]:
        path = api_path("challenges", challenge, "submissions")
        return [
            Submission.model_validate(s)
            for s in self._t.call("GET", path, params=_org(org))["items"]
        ]

    def board(self, challenge: str, *, private: bool = False, org: str | None = None) -> Board:
        params = {**_org(org), **({"private": "true"} if private else {})}
        path = api_path("challenges", challenge, "board")
        return self._one(Board, "GET", path, params=params)

    def award(
        self, challenge: str, shares: Mapping[str, Decimal | str | int]
    ) -> builtins.list[Award]:
        """Share the reward: team name -> amount (the poster, after the deadline), once."""
        body = {"awards": [{"team": t, "amount": str(a)} for t, a in shares.items()]}
        path = api_path("challenges", challenge, "award")
        return [Award.model_validate(a) for a in self._t.call("POST", path, json=body)["items"]]

    def awards(self, challenge: str, *, org: str | None = None) -> builtins.list[Award]:
        path = api_path("challenges", challenge, "awards")
        return [
            Award.model_validate(a) for a in self._t.call("GET", path, params=_org(org))["items"]
        ]
