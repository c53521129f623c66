"""Reading what Slurm's commands print: pure functions, no I/O.

Formats: `scontrol -o show node|job` (one `Key=Value ...` record per line), Slurm host lists
(`n[1-3,7],gpu01`), gres strings (`gpu:h100:2(S:0-1)`, `gpu:1(IDX:0)`), exit codes (a wait status
in `squeue --json`, `CODE:SIGNAL` elsewhere) and timestamps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_KEY = re.compile(r"(?:(?<=\s)|^)([A-Za-z][A-Za-z0-9_/:]*)=")
_GRES_IDX = re.compile(r"(?:^|,)gpu(?::([^:(),]+))?:(\d+)\(IDX:([^)]*)\)")
_NODE_GROUP = re.compile(r"\bNodes=(\S+) CPU_IDs=(\S+) Mem=(\d+) GRES=(\S*)")


def record(line: str) -> dict[str, str]:
    """One `scontrol -o` record as a dict. A value runs to the next ` Key=`, so values with
    spaces (`OS=Linux 6.1 ...`, `Reason=not responding [root@...]`) stay whole; the first of
    repeated keys wins."""
    fields: dict[str, str] = {}
    matches = list(_KEY.finditer(line))
    for here, after in zip(matches, [*matches[1:], None], strict=False):  # none: no fields
        end = after.start() if after else len(line)
        fields.setdefault(here.group(1), line[here.end() : end].strip())
    return fields


def records(text: str) -> list[dict[str, str]]:
    return [record(line) for line in text.splitlines() if line.strip()]


def _split_top(text: str) -> list[str]:
    """Split at commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in parts if p]


def indices(text: str) -> list[int]:
    """`0-1,3` -> [0, 1, 3]; anything without digits (`N/A`, empty) -> []."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if re.fullmatch(r"\d+-\d+", part):
            low, high = part.split("-")
            out.extend(range(int(low), int(high) + 1))
        elif part.isdigit():
            out.append(int(part))
    return out


def hostnames(expression: str) -> list[str]:
    """Expand a Slurm host list: `n[1-3,07-08],login` -> n1 n2 n3 n07 n08 login."""
    names: list[str] = []
    for item in _split_top(expression.strip()):
        match = re.match(r"^([^\[]*)\[([^\]]+)\](.*)$", item)
        if not match:
            names.append(item)
            continue
        prefix, ranges, rest = match.groups()
        for part in ranges.split(","):
            low, _, high = part.partition("-")
            width = len(low)
            for number in range(int(low), int(high or low) + 1):
                names.extend(hostnames(f"{prefix}{number:0{width}d}{rest}"))
    return names


@dataclass(frozen=True)
class GresGroup:
    type: str | None  # `h100` in gpu:h100:2; None when untyped
    count: int


def node_gpus(gres: str) -> list[GresGroup]:
    """The GPU groups of a node's `Gres=` (`gpu:2`, `gpu:a100:2(S:0),gpu:v100:1`, `(null)`)."""
    groups = []
    for item in _split_top(re.sub(r"\([^)]*\)", "", gres)):
        parts = item.split(":")
        if parts[0] != "gpu" or len(parts) < 2 or not parts[-1].isdigit():
            continue
        groups.append(GresGroup(parts[1] if len(parts) == 3 else None, int(parts[-1])))
    return groups


def gpu_indices(gres_detail: str) -> list[int]:
    """The GPU indices a job got on one node: `gpu:2(IDX:0-1)` / `gpu:h100:1(IDX:1)` -> [..]."""
    found: list[int] = []
    for match in _GRES_IDX.finditer(gres_detail):
        found.extend(indices(match.group(3)))
    return sorted(found)


@dataclass(frozen=True)
class NodeShare:
    """What one job holds on one node (from `scontrol -o -d show job`)."""

    node: str
    cpus: int
    memory_mib: int
    gpus: list[int]


def job_nodes(line: str) -> list[NodeShare]:
    """The per-node groups of a detailed job record (`Nodes=n[1-2] CPU_IDs=0-1 Mem=512 GRES=..`)."""
    shares = []
    for match in _NODE_GROUP.finditer(line):
        nodes, cpu_ids, memory, gres = match.groups()
        for node in hostnames(nodes):
            shares.append(NodeShare(node, len(indices(cpu_ids)), int(memory), gpu_indices(gres)))
    return shares


@dataclass(frozen=True)
class Exit:
    code: int  # the exit status; 0 when killed by a signal
    signal: int

    @property
    def as_replica_code(self) -> int:
        """AICC's convention: the exit status, or minus the signal that killed the command."""
        return -self.signal if self.signal else self.code


def exit_from_wait_status(status: int) -> Exit:
    """`squeue --json` (22.05) gives the raw wait status: 768 -> code 3, 9 -> signal 9."""
    return Exit(0, status & 0x7F) if status & 0x7F else Exit((status >> 8) & 0xFF, 0)


def exit_from_text(text: str) -> Exit | None:
    """`3:0` (sacct, scontrol, jobcomp) -> Exit(3, 0)."""
    match = re.fullmatch(r"\s*(\d+):(\d+)\s*", text or "")
    return Exit(int(match.group(1)), int(match.group(2))) if match else None


def exit_from_json(value: Any) -> Exit | None:
    """A job's `exit_code` in `squeue --json`: an int in 22.05, an object from 23.02 on."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return exit_from_wait_status(value)
    if isinstance(value, dict):
        code = number(value.get("return_code")) or 0
        sig = value.get("signal")
        signal_id = number(sig.get("id") if isinstance(sig, dict) else sig) or 0
        return Exit(code, signal_id)
    return None


def number(value: Any) -> int | None:
    """A JSON number, or 23.02+'s `{"set": true, "infinite": false, "number": N}`."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, dict) and value.get("set", True) and not value.get("infinite"):
        return number(value.get("number"))
    return None


def epoch(value: Any) -> datetime | None:
    seconds = number(value)
    return datetime.fromtimestamp(seconds, UTC) if seconds and seconds > 0 else None


def local_time(text: str) -> datetime | None:
    """`2026-11-22T11:53:57` as Slurm prints it (the cluster's local time) -> aware UTC."""
    try:
        return datetime.fromisoformat(text.strip()).astimezone(UTC)
    except ValueError:
        return None  # Unknown, None, N/A


def job_state(value: Any) -> str:
    """`CANCELLED by 0`, `["RUNNING"]`, `COMPLETED+` -> the base state word, upper case."""
    if isinstance(value, list):
        value = value[0] if value else ""
    text = str(value or "").strip().upper()
    return re.split(r"[\s+]", text, maxsplit=1)[0] if text else ""


def memory_mib(text: str) -> int | None:
    """sacct's MaxRSS (`123456K`, `1.5G`, `0`) -> MiB."""
    match = re.fullmatch(r"\s*([\d.]+)([KMGT]?)\s*", text or "")
    if not match:
        return None
    scale = {"": 1 / 1024 / 1024, "K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}
    return round(float(match.group(1)) * scale[match.group(2)])
