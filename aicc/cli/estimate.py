"""`aicc estimate`: time and price of a scenario on each accelerator option, before any job."""

from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.markup import escape

from aicc.cli.output import (
    Column,
    client,
    col,
    fail,
    handle_errors,
    plain,
    price,
    print_json,
    print_table,
    status,
)

SCENARIO_HELP = (
    "llm-pretrain | llm-finetune | llm-lora | llm-inference | vision-train | speech-train | "
    "recsys-train"
)


def _hours(value: Any) -> str | None:
    if not isinstance(value, int | float):
        return None
    if value == 0:
        return "now"
    if value < 1:
        return f"{value * 60:.3g} min"
    if value < 48:
        return f"{value:.3g} h"
    return f"{value / 24:,.1f} d"


def _amount(value: Any) -> str | None:
    if not isinstance(value, int | float):
        return None
    return f"{value:,.4g}" if value < 1000 else f"{value:,.0f}"


def _money(key: str) -> Column:
    return col(key.upper(), key, lambda v: f"{Decimal(v):,.2f}", justify="right")


def _credits(row: dict[str, Any]) -> str | None:
    if row.get("net") is None:
        return None
    total = sum(Decimal(row.get(k) or 0) for k in ("discount", "subsidy", "voucher"))
    return f"-{total:,.2f}" if total else "0.00"


OPTION_COLUMNS = [
    col("ACCELERATOR", "accelerator", no_wrap=True),
    col("COUNT", "count", justify="right"),
    col("TIME", "hours", _hours, justify="right"),
    col("WAIT", "wait_hours", _hours, justify="right"),
    col("DEVICE-H", "accelerator_hours", _amount, justify="right"),
    col("PFLOPS-H", "pflops_hours", _amount, justify="right"),
    col("MFU×SCALE", "efficiency", lambda v: f"{v:.2f}", justify="right"),
    _money("gross"),
    Column("CREDITS", _credits, justify="right"),
    Column("NET", price, justify="right"),
]


def _value(text: str) -> Any:
    """A number where the text is one (so `-7e9` reads as negative, not as a bad word); `7B`,
    `resnet-50` and the like as written."""
    try:
        return float(text)
    except ValueError:
        return text


def _pairs(values: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in values:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            fail(f"--set {pair!r} is not KEY=VALUE", "e.g. --set rank=16")
        out[key.strip().replace("-", "_")] = _value(value.strip())
    return out


def _assumptions(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures the shown options rely on (not every catalog model's MFU)."""
    shown = {o["accelerator"] for o in answer.get("options", [])}
    out = []
    for item in answer.get("assumptions", []):
        name = str(item.get("name", ""))
        model = name[name.find("[") + 1 : -1] if name.endswith("]") and "[" in name else None
        if model is None or model in shown:
            out.append(item)
    return list({a["name"]: a for a in out}.values())


@handle_errors
def estimate(
    scenario: Annotated[str, typer.Option(help=SCENARIO_HELP)],
    params: Annotated[str | None, typer.Option(help="Model parameters: 7e9, 7B.")] = None,
    tokens: Annotated[str | None, typer.Option(help="Training tokens: 2e12, 2T.")] = None,
    epochs: Annotated[str | None, typer.Option(help="Passes over the data.")] = None,
    tokens_in: Annotated[str | None, typer.Option(help="Inference: prompt tokens.")] = None,
    tokens_out: Annotated[str | None, typer.Option(help="Inference: generated tokens.")] = None,
    requests: Annotated[str | None, typer.Option(help="Inference: requests.")] = None,
    family: Annotated[str | None, typer.Option(help="Model family: resnet-50, whisper-small.")] = (
        None
    ),
    images: Annotated[str | None, typer.Option(help="Vision: images per epoch.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Any other scenario field as KEY=VALUE (docs/estimate.md)."),
    ] = None,
    accelerator: Annotated[
        list[str] | None,
        typer.Option("--accelerator", "-a", help="Only this model (name or alias); repeatable."),
    ] = None,
    count: Annotated[int | None, typer.Option(min=1, help="Exactly this many devices.")] = None,
    sort: Annotated[str, typer.Option(help="Rank by time (wait + run) or cost.")] = "time",
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Project (default: yours).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON.")] = False,
) -> None:
    """How long a scenario runs on each accelerator option, its wait, and its price after your
    subsidies and vouchers: `aicc estimate --scenario llm-pretrain --params 7e9 --tokens 2e12`."""
    if sort not in ("time", "cost"):
        fail(f"--sort {sort!r} must be time or cost")
    body: dict[str, Any] = {"scenario": scenario}
    given = {
        "params": params,
        "tokens": tokens,
        "epochs": epochs,
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "requests": requests,
        "family": family,
        "images": images,
    }
    body.update({key: _value(value) for key, value in given.items() if value is not None})
    body.update(_pairs(set_ or []))
    with client() as api:
        answer = plain(
            api.estimates.create(
                body, accelerators=accelerator, count=count, sort=sort, project=project
            )
        )
    if as_json:
        print_json(answer)
        return
    _print_options(answer, sort)
    _print_assumptions(answer)


def _print_options(answer: dict[str, Any], sort: str) -> None:
    """The options' table, then one dim line each for what was left out and what has no price."""
    currency = answer.get("currency", "")
    title = (
        f"{answer.get('scenario')}: {answer.get('flops', 0):.3g} FLOPs, "
        f"{answer.get('memory_gib', 0):,.0f} GiB to hold; prices in {currency}, by {sort}"
    )
    print_table(answer.get("options", []), OPTION_COLUMNS, title=title, empty="no option fits")
    left = answer.get("left_out", [])
    if left:
        reasons: dict[str, int] = {}
        for item in left:
            reasons[item["reason"]] = reasons.get(item["reason"], 0) + 1
        summary = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in reasons.items())
        status(f"[dim]left out: {escape(summary)} (--json lists them)[/dim]")
    if any(o.get("net") is None for o in answer.get("options", [])):
        status(
            "[dim]no price: your price plan prices no such accelerator; an operator sets one "
            "with `aicc admin price-plan set` or `pricing:` in config.yaml[/dim]"
        )


def _print_assumptions(answer: dict[str, Any]) -> None:
    rows = [
        {
            "name": a["name"],
            "value": a["value"],
            "unit": a.get("unit", ""),
            "source": ("(estimate) " if a.get("estimate") else "") + str(a.get("source", "")),
        }
        for a in _assumptions(answer)
    ]
    print_table(
        rows,
        [
            col("ASSUMPTION", "name"),
            col("VALUE", "value"),
            col("UNIT", "unit"),
            col("SOURCE", "source"),
        ],
    )
