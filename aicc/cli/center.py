"""`aicc audit` and `aicc accelerator list`: what happened in the center, and the devices
it knows."""

from typing import TYPE_CHECKING, Annotated, Any

import typer

from aicc.cli.nouns import Json, Noun
from aicc.cli.output import Column, col, local_time, memory_text

if TYPE_CHECKING:
    from aicc.sdk.client import Client

accelerator_app = typer.Typer(help="The accelerator catalog.", no_args_is_help=True)


def _object(entry: dict[str, Any]) -> str:
    kind, ident = entry.get("object_type") or "", entry.get("object_id") or ""
    return f"{kind} {ident}".strip()


AUDIT = Noun(
    "audit entry",
    [
        col("AT", "at", local_time),
        Column("USER", lambda entry: entry.get("user_name") or entry.get("user_id")),
        col("ACTION", "action"),
        Column("OBJECT", _object),
    ],
)


@AUDIT.list(None)  # `aicc audit`, mounted by main.py
def audit(
    api: "Client",
    limit: Annotated[int, typer.Option(min=1, max=500, help="Newest entries to show.")] = 50,
    action: Annotated[str | None, typer.Option(help="Only this action.")] = None,
) -> Json:
    """The audit trail: who did what, newest first (admins and org admins)."""
    return api.audit.list(limit=limit, action=action)


def _memory(model: dict[str, Any]) -> str | None:
    if model.get("memory_mib") is not None:
        return memory_text(model["memory_mib"])
    gib = model.get("memory_gib")
    return f"{gib}GiB" if gib is not None else None


def _tflops(model: dict[str, Any]) -> str | None:
    value = model.get("fp16_tflops")
    if value is None and model.get("pflops") is not None:
        value = float(model["pflops"]) * 1000
    return f"{float(value):g}" if value is not None else None


ACCELERATORS = Noun(
    "accelerator",
    [
        Column("MODEL", lambda model: model.get("name") or model.get("model")),
        col("VENDOR", "vendor"),
        col("KIND", "kind"),
        Column("MEMORY", _memory, justify="right"),
        Column("FP16 TFLOPS", _tflops, justify="right"),
        col("INTERCONNECT", "interconnect"),
    ],
)


@ACCELERATORS.list(accelerator_app)
def accelerator_list(api: "Client") -> Json:
    """Accelerator models AICC knows, with their peak figures."""
    return api.accelerators.list()
