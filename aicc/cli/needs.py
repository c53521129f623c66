"""`aicc need ...` and `aicc challenge ...`: the catalog of needs (供需对接) and the challenges on
their hidden sets (揭榜挂帅). A need or a challenge is named by its id, or by its name in your
organization (`--org` names another's). Times as `aicc maintenance` takes them (ISO 8601,
+30d)."""

from typing import TYPE_CHECKING, Annotated, Any

import typer

from aicc.cli.data import RATED_FIELDS, RATING, USES, ReviewText, print_reviews, rate
from aicc.cli.maintenance import when
from aicc.cli.nouns import ID, Json, Noun, shows
from aicc.cli.output import (
    Column,
    JsonFlag,
    client,
    col,
    fail,
    handle_errors,
    local_time,
    print_json,
    print_table,
)

if TYPE_CHECKING:
    from aicc.sdk.client import Client
    from aicc.services.models.views import Reviews

app = typer.Typer(help="Needs: problems organizations post for providers.", no_args_is_help=True)
challenge_app = typer.Typer(
    help="Challenges: needs scored on a hidden test set.", no_args_is_help=True
)

OrgOption = Annotated[
    str | None, typer.Option(help="The poster's organization, for another's need.")
]
NeedArg = Annotated[str, typer.Argument(help="The need: its id, or its name.")]
ChallengeArg = Annotated[str, typer.Argument(help="The challenge: its id, or its need's name.")]


def _reward(row: dict[str, Any]) -> str:
    return f"{row.get('reward')} {row.get('currency')}"


def _held(row: dict[str, Any]) -> str:
    """Where a need's reward is held: one of the poster's vouchers, or money in escrow."""
    if row.get("voucher"):
        return f"voucher {row['voucher']}"
    return "a voucher (awarded as vouchers)" if row.get("from_voucher") else "escrow on the invoice"


def _offered(row: dict[str, Any]) -> str:
    """A challenge's training subsidy: what each team formed receives, and from which voucher
    (the poster sees it)."""
    if row.get("subsidy_per_team") in (None, "0", "0.00"):
        return "-"
    source = f" from {row['subsidy_voucher']}" if row.get("subsidy_voucher") else ""
    return f"{row['subsidy_per_team']} a team{source}"


def _subsidy(row: dict[str, Any]) -> str:
    """A team's training subsidy: the amount and its voucher, none left, or none offered."""
    if row.get("subsidy_state") == "given":
        return f"{row.get('subsidy')} ({row.get('subsidy_voucher')})"
    return "none left" if row.get("subsidy_state") == "none_left" else "-"


NEEDS = Noun(
    "need",
    [
        col("NAME", "name"),
        col("ORG", "org"),
        col("TITLE", "title"),
        col("METRIC", "metric"),
        Column("REWARD", _reward),
        col("DEADLINE", "deadline", local_time),
        col("STATE", "state"),
        Column("CHALLENGE", lambda r: "yes" if r.get("challenge") else "-"),
        RATING,
        USES,
    ],
    empty="no needs yet: post one with `aicc need create`",
    fields=[
        ID,
        col("NAME", "name"),
        col("ORG", "org"),
        col("TITLE", "title"),
        col("PROBLEM", "problem"),
        col("DATA", "data"),
        col("METRIC", "metric"),
        Column("REWARD", _reward),
        Column("HELD IN", _held),
        col("DEADLINE", "deadline", local_time),
        Column(
            "TERMS", lambda r: ", ".join(f"{k}: {v}" for k, v in (r.get("terms") or {}).items())
        ),
        col("STATE", "state"),
        Column("CHALLENGE", lambda r: "yes" if r.get("challenge") else "no"),
        col("ANSWERED", "questions"),
        *RATED_FIELDS,
    ],
    sdk="needs",
)
QUESTIONS = Noun(
    "question",
    [ID, col("ORG", "org"), col("QUESTION", "text"), col("ANSWER", "answer")],
    empty="no questions answered yet",
    sdk="needs",
)

NEEDS.list(app)(
    NEEDS.call(
        "list",
        "The catalog of needs, newest first, or by rating or use.",
        text=Annotated[str | None, typer.Option(help="Words in a name, title or problem.")],
        state=Annotated[str | None, typer.Option(help="open, awarded or withdrawn.")],
        sort=Annotated[
            str | None,
            typer.Option(
                help="newest (default), rating (the best rated first) or use (the most "
                "organizations taking part first)."
            ),
        ],
    )
)
NEEDS.get(app)(NEEDS.call("get", "One need.", need=NeedArg, org=OrgOption))


@NEEDS.create(app)
def need_create(
    api: "Client",
    name: Annotated[str, typer.Argument(help="Lowercase letters, digits and '-'.")],
    title: Annotated[str, typer.Option(help="The need in a line.")],
    problem: Annotated[str, typer.Option(help="The problem in words.")],
    metric: Annotated[str, typer.Option(help="accuracy, macro_f1, rmse, mae or r2.")],
    deadline: Annotated[str, typer.Option(help="When answers close: ISO 8601, +30d.")],
    reward: Annotated[str, typer.Option(help="Held in escrow until awarded.")] = "0",
    data: Annotated[
        str | None, typer.Option(help="A public data set version providers train on.")
    ] = None,
    project: Annotated[str | None, typer.Option(help="Your project it is posted from.")] = None,
    owner: Annotated[
        str, typer.Option(help="Who owns the results: poster, provider or shared.")
    ] = "poster",
    voucher: Annotated[
        str | None,
        typer.Option(help="Hold the reward from this voucher of your organization (vch_...)."),
    ] = None,
) -> Any:
    """Post a need for providers to answer; its reward is held in escrow on your invoice, or
    from one of your vouchers (`--voucher`)."""
    return api.needs.create(
        name,
        title=title,
        problem=problem,
        metric=metric,
        deadline=when(deadline),
        reward=reward,
        data=data,
        project=project,
        results_owner=owner,
        voucher=voucher,
    )


NEEDS.action(app, "withdraw", done="withdrew need")(
    NEEDS.call("withdraw", "Withdraw your open need; its escrow comes back.", need=NeedArg)
)
QUESTIONS.list(app, "questions")(
    QUESTIONS.call(
        "questions", "A need's answered questions, and yours.", need=NeedArg, org=OrgOption
    )
)
QUESTIONS.create(app, "ask", done="asked")(
    QUESTIONS.call(
        "ask",
        "Ask the poster a question (public once answered).",
        need=NeedArg,
        text=Annotated[str, typer.Argument(help="The question.")],
        org=OrgOption,
    )
)
QUESTIONS.action(app, "answer", done="answered")(
    QUESTIONS.call(
        "answer",
        "Answer a question on your need, publicly.",
        need=NeedArg,
        question=Annotated[str, typer.Argument(help="The question's id.")],
        text=Annotated[str, typer.Argument(help="The answer.")],
    )
)


@app.command("review")
@handle_errors
def need_review(
    need: NeedArg,
    rating: Annotated[int, typer.Option(min=1, max=5, help="1 to 5.")],
    text: ReviewText = "",
    org: OrgOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Rate and review a need your organization took part in (asked, joined a team of its
    challenge or made an offer); a second review of yours replaces the first."""
    rate(lambda api: api.needs.review(need, rating, text, org=org), need, rating, as_json)


@shows(app, "reviews", print_reviews)
def need_reviews(api: "Client", need: NeedArg, org: OrgOption = None) -> "Reviews":
    """A need's rating (mean and count) and its reviews, newest first."""
    return api.needs.reviews(need, org=org)


# --- offers ---


def _price(row: dict[str, Any]) -> str:
    per = "a run" if row.get("unit") == "run" else "per 1,000 requests"
    return f"{row.get('price')} {row.get('currency')} {per}"


OFFERS = Noun(
    "offer",
    [
        ID,
        col("ORG", "org"),
        col("KIND", "kind"),
        col("OFFERED", "target"),
        Column("PRICE", _price),
        col("STATE", "state"),
        col("USED", "used"),
    ],
    empty="no offers you may see on this need",
    sdk="needs",
)
OfferArg = Annotated[str, typer.Argument(help="The offer's id (nof_...).")]


def _said(done: str, offer: Json) -> str:
    """What a decision on an offer says: the offered template or deployment and the id."""
    return f"{done} {offer.get('target')} ({offer.get('id')})"


@OFFERS.create(app, "offer", done=lambda o: _said("offered", o))
def need_offer(
    api: "Client",
    need: NeedArg,
    price: Annotated[str, typer.Option(help="A run of the template, or 1,000 requests.")],
    template: Annotated[
        str | None, typer.Option(help="Your published template: NAME, NAME@N, ORG/PRJ/NAME@N.")
    ] = None,
    deployment: Annotated[str | None, typer.Option(help="Your deployment's name.")] = None,
    message: Annotated[str, typer.Option(help="A word to the poster.")] = "",
    project: Annotated[str | None, typer.Option(help="The project of your deployment.")] = None,
    org: OrgOption = None,
) -> Any:
    """Answer a need without a challenge: offer its poster your template or deployment at a
    price for them alone."""
    if (template is None) == (deployment is None):
        fail("give one of --template or --deployment")
    kind, ref = ("template", template) if template is not None else ("deployment", deployment)
    assert ref is not None
    return api.needs.offer(
        need, kind=kind, ref=ref, price=price, message=message, project=project, org=org
    )


OFFERS.list(app, "offers")(
    OFFERS.call(
        "offers",
        "A need's offers: all of them for its poster, your organization's for a provider.",
        need=NeedArg,
        org=OrgOption,
    )
)


def _accepted(answer: Json) -> str:
    said = f"accepted offer {answer.get('target')} ({answer.get('id')})"
    if answer.get("secret"):
        said += f"; its API key, shown this once: {answer['secret']}"
    return said


def _decider(action: str, doc: str) -> Any:
    """The body of `aicc need VERB NEED OFFER`: one decision on an offer."""

    def decide(api: "Client", need: NeedArg, offer: OfferArg, org: OrgOption = None) -> Any:
        return api.needs.decide(need, offer, action, org=org)

    decide.__doc__ = doc
    return decide


for verb, action, done, doc in (
    ("accept", "accept", _accepted, "Accept an offer on your need."),
    ("decline", "decline", lambda o: _said("declined offer", o), "Decline an offer on your need."),
    (
        "withdraw-offer",
        "withdraw",
        lambda o: _said("withdrew offer", o),
        "Withdraw your offer before it is decided.",
    ),
    (
        "end-offer",
        "end",
        lambda o: _said("ended offer", o),
        "End an accepted offer (its poster or its provider).",
    ),
):
    OFFERS.action(app, verb, done=done)(_decider(action, doc))


# --- challenges ---


CHALLENGES = Noun(
    "challenge",
    [
        ID,
        col("NEED", "need"),
        col("METRIC", "metric"),
        col("ROWS", "rows"),
        Column("TEAMS", lambda r: len(r.get("teams") or [])),
        col("DEADLINE", "deadline", local_time),
        Column("PRIVATE BOARD", lambda r: "open" if r.get("private_open") else "at the deadline"),
    ],
    empty="no challenges yet",
    fields=[
        ID,
        col("NEED", "need"),
        col("TITLE", "title"),
        Column(
            "METRIC",
            lambda r: f"{r['metric']} ({'higher' if r['higher_is_better'] else 'lower'} is better)",
        ),
        col("TARGET", "target"),
        col("ROWS", "rows"),
        Column("PUBLIC BOARD", lambda r: f"{r['public_pct']}% of the rows"),
        Column("LIMITS", lambda r: f"{r['per_day']} a team a day, {r['max_runtime_s']} s a run"),
        col("DEADLINE", "deadline", local_time),
        col("HIDDEN", "hidden"),
        Column("SUBSIDY", _offered),
        Column("TEAMS", lambda r: ", ".join(t["name"] for t in r.get("teams") or []) or "-"),
    ],
    sdk="challenges",
)
TEAMS = Noun(
    "team",
    [
        col("NAME", "name"),
        Column("ORGS", lambda r: ", ".join(r.get("orgs") or [])),
        Column("SUBSIDY", _subsidy),
    ],
    sdk="challenges",
)
SUBMISSIONS = Noun(
    "submission",
    [
        ID,
        col("TEAM", "team"),
        col("MODEL", "model"),
        col("STATE", "state"),
        col("PUBLIC", "public_score"),
        col("PRIVATE", "private_score"),
        col("AT", "created_at", local_time),
        col("ERROR", "error"),
    ],
    empty="no submissions yet: `aicc challenge submit`",
    sdk="challenges",
)
AWARDS = Noun(
    "award",
    [
        col("TEAM", "team"),
        Column("AMOUNT", _reward),
        Column("VOUCHERS", lambda r: ", ".join(r["vouchers"])),
    ],
    empty="no awards yet",
    sdk="challenges",
)
STANDINGS = [
    col("RANK", "rank"),
    col("TEAM", "team"),
    col("SCORE", "score"),
    col("SUBMISSIONS", "submissions"),
    col("AT", "at", local_time),
    Column("MODEL", lambda r: (r.get("lineage") or {}).get("model", "")),
]

CHALLENGES.list(challenge_app)(CHALLENGES.call("list", "Every challenge, newest first."))
CHALLENGES.get(challenge_app)(
    CHALLENGES.call("get", "One challenge.", challenge=ChallengeArg, org=OrgOption)
)


@CHALLENGES.create(
    challenge_app, done=lambda c: f"made {c.get('need')} a challenge ({c.get('id')})"
)
def challenge_create(
    api: "Client",
    need: NeedArg,
    hidden: Annotated[str, typer.Option(help="Your private data set version with the answers.")],
    target: Annotated[str, typer.Option(help="The column to predict.")],
    table: Annotated[str | None, typer.Option(help="The table file (default: largest).")] = None,
    public_pct: Annotated[int, typer.Option(help="Rows scored on the public board, %.")] = 30,
    per_day: Annotated[int, typer.Option(help="Submissions a team a day.")] = 5,
    max_runtime: Annotated[int, typer.Option(help="Seconds a scoring run may take.")] = 600,
    subsidy_voucher: Annotated[
        str | None,
        typer.Option(help="Subsidize each team's training from this voucher of yours (vch_...)."),
    ] = None,
    subsidy_per_team: Annotated[
        str, typer.Option(help="What each team formed receives of it, e.g. 200.")
    ] = "0",
) -> Any:
    """Make your need a challenge, scored on a hidden test set; with `--subsidy-voucher`, each
    team formed receives `--subsidy-per-team` of that voucher as one of its own, valid until
    the deadline, for its training."""
    return api.challenges.create(
        need,
        hidden=hidden,
        target=target,
        table=table,
        public_pct=public_pct,
        per_day=per_day,
        max_runtime_s=max_runtime,
        subsidy_voucher=subsidy_voucher,
        subsidy_per_team=subsidy_per_team,
    )


TEAMS.action(challenge_app, "join", done="joined as team")(
    TEAMS.call(
        "join",
        "Take the challenge as a team (new, or one that invited your organization).",
        challenge=ChallengeArg,
        team=Annotated[str, typer.Option(help="The team's name.")],
        org=OrgOption,
    )
)
TEAMS.action(challenge_app, "invite", done="invited into team")(
    TEAMS.call(
        "invite",
        "Invite another organization into your team.",
        challenge=ChallengeArg,
        invited=Annotated[str, typer.Argument(help="The organization's name.")],
        org=OrgOption,
    )
)
SUBMISSIONS.create(
    challenge_app, "submit", done=lambda s: f"submitted {s.get('model')}: scoring ({s.get('id')})"
)(
    SUBMISSIONS.call(
        "submit",
        "Submit your model version, or what your template run made, to be scored on the "
        "hidden set.",
        challenge=ChallengeArg,
        model=Annotated[
            str,
            typer.Argument(help="NAME or NAME@VERSION of your model, or a template run's job id."),
        ],
        project=Annotated[str | None, typer.Option(help="Your model's project.")],
        org=OrgOption,
    )
)
SUBMISSIONS.list(challenge_app, "submissions")(
    SUBMISSIONS.call(
        "submissions",
        "Your team's submissions (the poster: every team's).",
        challenge=ChallengeArg,
        org=OrgOption,
    )
)


@challenge_app.command("board")
@handle_errors
def challenge_board(
    challenge: ChallengeArg,
    private: Annotated[
        bool, typer.Option("--private", help="The private board, open at the deadline.")
    ] = False,
    org: OrgOption = None,
    as_json: JsonFlag = False,
) -> None:
    """A board: each team's best submission, best first."""
    with client() as api:
        answer = api.challenges.board(challenge, private=private, org=org).model_dump(mode="json")
    if as_json:
        print_json(answer)
        return
    better = "higher" if answer["higher_is_better"] else "lower"
    title = f"{answer['board']} board, {answer['metric']} ({better} is better)"
    print_table(answer["standings"], STANDINGS, title=title, empty=f"{title}: no scores yet")


@AWARDS.action(challenge_app, "award", done=lambda a: f"awarded {len(a['items'])} team(s)")
def challenge_award(
    api: "Client",
    challenge: ChallengeArg,
    team: Annotated[list[str], typer.Option(help="TEAM=AMOUNT, once per team awarded.")],
) -> Any:
    """Share your need's reward among teams, after the deadline (once)."""
    shares = {}
    for item in team:
        name, _, amount = item.partition("=")
        if not name or not amount:
            fail(f"--team {item!r}: write TEAM=AMOUNT, e.g. --team alpha=3000")
        shares[name] = amount
    return api.challenges.award(challenge, shares)


AWARDS.list(challenge_app, "awards")(
    AWARDS.call("awards", "A challenge's awards.", challenge=ChallengeArg, org=OrgOption)
)
