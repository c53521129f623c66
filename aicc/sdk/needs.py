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
from aicc.services.models.views import Review, Reviews
from aicc.services.needs.views import (
    Award,
    Board,
    Challenge,
    Need,
    Offer,
    Question,
    Submission,
    Team,
)


def _org(org: str | None) -> dict[str, str]:
    return {"org": org} if org else {}


class Needs(Resource):
    def list(
        self, text: str | None = None, *, state: str | None = None, sort: str | None = None
    ) -> builtins.list[Need]:
        """The catalog, newest first; `text` finds words in a name, title or problem; `sort`:
        `newest`, `rating` (the best rated first) or `use` (the most organizations taking part
        first)."""
        params = {k: v for k, v in (("q", text), ("state", state), ("sort", sort)) if v}
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
        voucher: str | None = None,
    ) -> Need:
        """Post a need; `data` a public data set version providers train on; the reward is
        held in escrow until it is awarded or the need withdrawn: money on your invoice, or
        held from `voucher`, one of your organization's vouchers (`vch_...`)."""
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
        if voucher:
            body["voucher"] = voucher
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

    def review(self, need: str, rating: int, text: str = "", *, org: str | None = None) -> Review:
        """Rate (1-5) and review a need your organization took part in; a second review of
        yours replaces the first."""
        path = api_path("needs", need, "reviews")
        body = {"rating": rating, "text": text}
        return self._one(Review, "PUT", path, json=body, params=_org(org))

    def reviews(self, need: str, *, org: str | None = None) -> Reviews:
        """A need's rating (mean and count) and its reviews, newest first."""
        return self._one(Reviews, "GET", api_path("needs", need, "reviews"), params=_org(org))

    def offer(
        self,
        need: str,
        *,
        kind: str,
        ref: str,
        price: Decimal | str | int,
        message: str = "",
        project: str | None = None,
        org: str | None = None,
    ) -> Offer:
        """Offer the poster your published template (`kind="template"`, `ref` as a run names
        it) at `price` a run, or your deployment (`kind="deployment"`, `ref` its name in
        `project`) at `price` per 1,000 requests."""
        body = {"kind": kind, "ref": ref, "price": str(price), "message": message}
        if project:
            body["project"] = project
        path = api_path("needs", need, "offers")
        return self._one(Offer, "POST", path, json=body, params=_org(org))

    def offers(self, need: str, *, org: str | None = None) -> builtins.list[Offer]:
        """The need's offers: all of them for the poster, your organization's for a provider."""
        path = api_path("needs", need, "offers")
        return [
            Offer.model_validate(o) for o in self._t.call("GET", path, params=_org(org))["items"]
        ]

    def decide(self, need: str, offer: str, action: str, *, org: str | None = None) -> Offer:
        """`accept` or `decline` an offer on your need, `withdraw` yours while it is open, or
        `end` an accepted one (either side). An accepted deployment offer's answer carries the
        key's `secret`, shown this once."""
        path = api_path("needs", need, "offers", offer, action)
        return self._one(Offer, "POST", path, params=_org(org))


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
        subsidy_voucher: str | None = None,
        subsidy_per_team: Decimal | str | int = 0,
    ) -> Challenge:
        """Make your need a challenge on `hidden`, your private data set version with the
        answers in column `target`; with `subsidy_voucher` (one of your organization's
        vouchers), each team formed receives `subsidy_per_team` of it for its training."""
        body: dict[str, Any] = {
            "hidden": hidden,
            "target": target,
            "table": table,
            "public_pct": public_pct,
            "per_day": per_day,
            "max_runtime_s": max_runtime_s,
        }
        if subsidy_voucher:
            body |= {"subsidy_voucher": subsidy_voucher, "subsidy_per_team": str(subsidy_per_team)}
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
