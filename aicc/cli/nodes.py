"""`aicc node ...`: see the machines and their accelerators, import inventory, cordon."""

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.text import Text

from aicc.cli.nouns import Noun
from aicc.cli.output import (
    Column,
    JsonFlag,
    ago,
    client,
    col,
    cpu_text,
    existing_file,
    fail,
    handle_errors,
    local_time,
    memory_text,
    plain,
    print_fields,
    print_json,
    print_table,
    state_text,
    status,
)
from aicc.core.power_curve import spark

if TYPE_CHECKING:
    from aicc.services.nodes.views import Node
    from aicc.services.telemetry.views import PowerCurve

app = typer.Typer(help="Machines, their accelerators, and the inventory.", no_args_is_help=True)

NodeName = Annotated[
    str, typer.Argument(metavar="NAME", help="The node's name.", show_default=False)
]


def devices_text(node: dict[str, Any]) -> Text:
    """'8× H100-SXM', with simulated devices marked as such (docs/contracts.md §8)."""
    counts: Counter[tuple[str, bool, bool]] = Counter()
    for device in node.get("devices") or []:
        simulated = bool(device.get("simulated") or node.get("simulated"))
        healthy = device.get("healthy", True) is not False
        counts[(str(device.get("model", "?")), simulated, healthy)] += 1
    text = Text()
    for (model, simulated, healthy), count in sorted(counts.items()):
        if text:
            text.append(", ")
        text.append(f"{count}× {model}")
        if simulated:
            text.append(" (simulated)", style="magenta")
        if not healthy:
            text.append(" (unhealthy)", style="red")
    return text if text else Text("-", style="dim")


def _used(node: dict[str, Any], key: str, fmt: Any) -> str:
    allocated = (node.get("allocated") or {}).get(key)
    total = node.get(key)
    if total is None:
        return "-"
    return f"{fmt(allocated or 0)}/{fmt(total)}"


def driver_text(node: dict[str, Any]) -> str:
    """The NVIDIA driver and the newest CUDA it runs, as the local executor's NVML discovery
    labels the node ('580.159.04, CUDA 13.0'); '-' where nobody read them."""
    labels = node.get("labels") or {}
    driver, cuda = labels.get("nvidia.com/driver"), labels.get("nvidia.com/cuda")
    if not driver:
        return "-"
    return f"{driver}, CUDA {cuda}" if cuda else str(driver)


def _accelerators_used(node: dict[str, Any]) -> str:
    devices = node.get("devices") or []
    if not devices:
        return "-"
    milli = (node.get("allocated") or {}).get("accelerator_milli") or 0
    return f"{milli / 1000:g}/{len(devices)}"


def _state(node: dict[str, Any]) -> Text:
    text = state_text(node.get("state"))
    if node.get("state_reason"):
        text.append(f" ({node['state_reason']})", style="dim")
    return text


def _say_state(name: str, node: "Node") -> None:
    """What `cordon`, `uncordon` and `drain` print: the state the node is in now."""
    status(f"node {escape(name)} is {_state(plain(node)).markup}")


def burn_in_text(node: dict[str, Any]) -> Text:
    """The last burn-in's verdict ('passed', 'failed', 'running'), '-' where none ran."""
    burn = node.get("burn_in") or {}
    if not burn:
        return Text("-", style="dim")
    return state_text(burn.get("state"))


def figures_text(node: dict[str, Any]) -> Text:
    """The last burn-in's figures, one a line: value, unit, the least it had to reach, and a
    mark where it fell short; then the GPU check and why any check was skipped."""
    burn = node.get("burn_in") or {}
    text = Text()
    for name, figure in sorted((burn.get("figures") or {}).items()):
        if text:
            text.append("\n")
        text.append(f"{name} {figure.get('value'):g} {figure.get('unit')}")
        if figure.get("reference") is not None:
            text.append(f" (at least {figure['reference']:g})", style="dim")
        if figure.get("passed") is False:
            text.append(" below", style="red")
    gpu = burn.get("gpu") or {}
    if gpu:
        text.append(f"\ngpu {gpu.get('state')}: {gpu.get('detail', '')[:120]}")
    for check, why in sorted((burn.get("skipped") or {}).items()):
        text.append(f"\n{check}: {why}", style="dim")
    if burn.get("reason"):
        text.append(f"\nreason: {burn['reason']}", style="red")
    return text if text else Text("-", style="dim")


NODES = Noun(
    "node",
    [
        col("NAME", "name", no_wrap=True),
        Column("STATE", _state),
        col("EXECUTOR", "executor"),
        Column("CPU", lambda node: _used(node, "cpu_milli", cpu_text)),
        Column("MEMORY", lambda node: _used(node, "memory_mib", memory_text)),
        Column("DEVICES", devices_text),
        Column("DRIVER", driver_text),
        Column("GPU USED", _accelerators_used),
        Column("HEARTBEAT", lambda node: ago(node.get("heartbeat_at"))),
        Column("BURN-IN", burn_in_text),
    ],
    empty="no nodes; add some with `aicc node import`",
    sdk="nodes",
)
#: The answer of `node import`: the same table, with its own title and empty message.
IMPORTED = replace(NODES, empty="no nodes in the file")


NODES.list(app)(NODES.call("list", "Nodes with allocated/total CPU, memory and accelerators."))
#: `node get`: the table's fields, then the last burn-in's figures (docs/burn-in.md).
SHOWN = replace(NODES, fields=[*NODES.columns, Column("FIGURES", figures_text)])
SHOWN.get(app)(SHOWN.call("get", "One node, with its last burn-in's figures.", name=NodeName))


@app.command("import")
@handle_errors
def import_command(
    file: Annotated[Path, typer.Argument(help="Inventory YAML (see docs/config.md).")],
    as_json: JsonFlag = False,
) -> None:
    """Create or update nodes from an inventory file."""
    import yaml

    doc = yaml.safe_load(existing_file(file).read_text(encoding="utf-8"))
    if not isinstance(doc, dict):
        fail(f"{file} must hold a mapping (an inventory document)", "see docs/config.md")
    with client() as api:
        imported = api.nodes.import_inventory(doc)
    IMPORTED.print_list(imported, as_json=as_json, title="imported")


@app.command("cordon")
@handle_errors
def cordon_command(name: NodeName) -> None:
    """Stop placing new jobs on a node; running jobs carry on."""
    with client() as api:
        _say_state(name, api.nodes.cordon(name))


@app.command("uncordon")
@handle_errors
def uncordon_command(name: NodeName) -> None:
    """Let the scheduler use a cordoned node again (or a quarantined one, its burn-in failed)."""
    with client() as api:
        _say_state(name, api.nodes.uncordon(name))


@app.command("drain")
@handle_errors
def drain_command(
    name: NodeName,
    evict: Annotated[
        bool, typer.Option(help="Stop running jobs now (grace period) and requeue them.")
    ] = False,
) -> None:
    """Stop new placements on a node; running jobs finish, or with --evict are requeued."""
    with client() as api:
        _say_state(name, api.nodes.drain(name, evict=evict))


@app.command("burn-in")
@handle_errors
def burn_in_command(name: NodeName) -> None:
    """Take a node out of service and run its burn-in; it serves again once it passes, or is
    quarantined with its figures (`aicc node get NAME`; `aicc node uncordon NAME` releases it)."""
    with client() as api:
        _say_state(name, api.nodes.burn_in(name))


def bmc_pairs(node: dict[str, Any]) -> list[tuple[str, Any]]:
    """What the node's BMC last said, as `node show` prints it (no address, user or password)."""
    found = node.get("bmc")
    if not found:
        return [("BMC", Text("none named (aicc node bmc NAME --address ...)", style="dim"))]
    watts = found.get("watts")
    power = f"{watts:g} W" if watts is not None else "-"
    if found.get("read_at"):
        power += f" ({ago(found['read_at'])})"
    limit = found.get("limit_applied_w")
    asked = found.get("limit_w")
    limit_text = f"{limit:g} W" if limit is not None else "none"
    if asked != limit:
        limit_text += f" (asked: {f'{asked:g} W' if asked is not None else 'none'})"
    if found.get("limit_error"):
        limit_text += f" - {found['limit_error']}"
    inventory = " ".join(
        part
        for part in (found.get("manufacturer"), found.get("model"), found.get("serial_number"))
        if part
    )
    health = found.get("health") or "-"
    if found.get("cordoned"):
        health += " (cordoned the node)"
    pairs: list[tuple[str, Any]] = [
        ("BMC HEALTH", health),
        ("POWER", power),
        ("POWER LIMIT", limit_text),
        ("INVENTORY", inventory or "-"),
        ("BIOS", found.get("bios_version") or "-"),
    ]
    temps = found.get("temperatures") or {}
    if temps:
        pairs.append(("TEMPERATURES", ", ".join(f"{k} {v:g} °C" for k, v in temps.items())))
    fans = found.get("fans") or {}
    if fans:
        pairs.append(("FANS", ", ".join(f"{k} {v:g} RPM" for k, v in fans.items())))
    if found.get("error"):
        pairs.append(("BMC ERROR", Text(f"{found['error']} ({ago(found.get('error_at'))})", "red")))
    return pairs


SHOW_HOURS = 6  # the power curve `node show` draws


def _watts(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} W"


def power_pairs(curve: "PowerCurve") -> list[tuple[str, Any]]:
    """The node's measured power over the curve's window, as `node show` prints it: the
    summary and a sparkline of the bucket means."""
    if not curve.samples:
        return []
    hours = f"{curve.hours:g} H"
    summary = (
        f"now {_watts(curve.now_w)}, avg {_watts(curve.avg_w)}, max {_watts(curve.max_w)}, "
        f"{curve.kwh:.2f} kWh ({curve.source}, {curve.samples} samples)"
    )
    line = spark([b.avg_w for b in curve.buckets])
    return [
        (f"POWER {hours}", summary),
        (
            f"CURVE {hours}",
            f"{line}  {_watts(min(b.min_w for b in curve.buckets))}"
            f" .. {_watts(max(b.max_w for b in curve.buckets))}",
        ),
    ]


@app.command("show")
@handle_errors
def show_command(name: NodeName, as_json: JsonFlag = False) -> None:
    """One node: its state and resources, its BMC's health, power, sensors and inventory, and
    its measured power over the last hours (a sparkline; `aicc node power` lists it)."""
    with client() as api:
        found = api.nodes.get(name)
        curve = None if as_json else api.nodes.power(name, hours=SHOW_HOURS)
    node = plain(found)
    if as_json or curve is None:
        print_json(node)
        return
    pairs: list[tuple[str, Any]] = [
        (column.header, column.value(node)) for column in NODES.columns if column.header
    ]
    print_fields(pairs + bmc_pairs(node) + power_pairs(curve))


BUCKETS = [
    col("TIME", "at", local_time, no_wrap=True),
    col("SAMPLES", "samples", justify="right"),
    col("MIN W", "min_w", lambda w: f"{w:,.0f}", justify="right"),
    col("AVG W", "avg_w", lambda w: f"{w:,.0f}", justify="right"),
    col("MAX W", "max_w", lambda w: f"{w:,.0f}", justify="right"),
    col("LIMIT W", "limit_w", lambda w: f"{w:,.0f}", justify="right"),
]


@app.command("power")
@handle_errors
def power_command(
    name: NodeName,
    hours: Annotated[
        float, typer.Option(min=0.01, max=24 * 31, help="How many hours back.")
    ] = 24.0,
    as_json: JsonFlag = False,
) -> None:
    """The node's measured power (its BMC, else RAPL) over the last hours: min, mean and max
    watts per bucket (at most ~300) and the limit in force, then the window's summary."""
    with client() as api:
        curve = api.nodes.power(name, hours=hours)
    if as_json:
        print_json(plain(curve))
        return
    print_table(
        plain(curve)["buckets"],
        BUCKETS,
        empty=f"no power samples of node {name} in the last {hours:g} hours",
    )
    if curve.samples:
        print_fields([*power_pairs(curve)[:1], ("BUCKET", f"{curve.bucket_s} s")])


@app.command("bmc")
@handle_errors
def bmc_command(
    name: NodeName,
    address: Annotated[str, typer.Option(help="https://HOST[:PORT] of its Redfish service.")],
    username: Annotated[str, typer.Option(help="The BMC's user.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    insecure: Annotated[
        bool, typer.Option(help="Do not verify the BMC's TLS certificate (self-signed).")
    ] = False,
    interval: Annotated[float, typer.Option(help="Seconds between power samples.")] = 60.0,
    as_json: JsonFlag = False,
) -> None:
    """Name a node's BMC (center admins); its password is sealed and never shown again."""
    import sys

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    with client() as api:
        found = api.nodes.set_bmc(
            name,
            address=address,
            username=username,
            password=password,
            verify_tls=not insecure,
            interval_s=interval,
        )
    if as_json:
        print_json(plain(found))
    else:
        status(f"node {name}: BMC {found.address}")


@app.command("power-limit")
@handle_errors
def power_limit_command(
    name: NodeName,
    limit: Annotated[
        str | None, typer.Argument(help="'500W', '1.2kW'; omit with --clear.", show_default=False)
    ] = None,
    clear: Annotated[bool, typer.Option(help="Lift the node's power limit.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Ask the node's BMC for a power limit, or lift it (center admins)."""
    if (limit is None) == (not clear):
        fail("give a limit such as 500W, or --clear", "aicc node power-limit NODE 500W")
    with client() as api:
        found = api.nodes.power_limit(name, None if clear else limit)
    if as_json:
        print_json(plain(found))
    else:
        asked = found.status.limit_w
        status(f"node {name}: power limit {f'{asked:g} W' if asked is not None else 'lifted'}")
