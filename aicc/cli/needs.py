"""`aicc need ...` and `aicc challenge ...`: the catalog of needs (供需对接) and the challenges on
their hidden sets (揭榜挂帅). A need or a challenge is named by its id, or by its name in your
organization (`--org` names another's). Times as `aicc maintenance` takes them (ISO 8601,
+30d)."""

from typing import TYPE_CHECKING, Annotated, Any

import typer

from aicc.cli.maintenance import when
from aicc.cli.nouns import ID, Noun
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
        col("DEADLINE", "deadline", local_time),
        Column(
            "TERMS", lambda r: ", ".join(f"{k}: {v}" for k, v in (r.get("terms") or {}).items())
        ),
        col("STATE", "state"),
        Column("CHALLENGE", lambda r: "yes" if r.get("challenge") else "no"),
        col("ANSWERED", "questions"),
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
        "The catalog of needs, newest first.",
        text=Annotated[str | None, typer.Option(help="Words in a name, title or problem.")],
        state=Annotated[str | None, typer.Option(help="open, awarded or withdrawn.")],
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
) -> Any:
    """Post a need for providers to answer."""
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
        Column("TEAMS", lambda r: ", ".join(t["name"] for t in r.get("teams") or []) or "-"),
    ],
    sdk="challenges",
)
TEAMS = Noun(
    "team",
    [col("NAME", "name"), Column("ORGS", lambda r: ", ".join(r.get("orgs") or []))],
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
) -> Any:
    """Make your need a challenge, scored on a hidden test set."""
    return api.challenges.create(
        need,
        hidden=hidden,
        target=target,
        table=table,
        public_pct=public_pct,
        per_day=per_day,
        max_runtime_s=max_runtime,
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
        "Submit your model version to be scored on the hidden set.",
        challenge=ChallengeArg,
        model=Annotated[str, typer.Argument(help="NAME or NAME@VERSION of your model.")],
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
