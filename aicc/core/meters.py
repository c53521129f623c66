"""The center's facility meters (utility feed, IT feed, cooling), read over Modbus TCP (a
register's words) or SNMP (a PDU's numeric OID) into kW or a kWh counter, and the measured PUE
of an hour from the meters' samples (docs/energy.md). Pure: the reading is executors/meters.py's
and executors/snmp.py's, the storing services'.

An hour is *measured* when every meter of the roles it needs was sampled across it with no
unsampled stretch longer than `MAX_GAP` (a sample within `MAX_GAP` of its start and of its end,
and none further apart in between); otherwise it is a *gap*, named with the meters that lack
samples, and never filled: no value is interpolated across a gap. A power meter's mean kW over
the hour is the time integral of its samples (linear between them, flat to the hour's edges);
a kWh counter's is its rise across the hour (read linearly between samples) over one hour, and a
counter that went backwards (a reset or a replaced meter) makes the hour a gap.

Facility power is the utility meters' sum where the center has one; without one it is IT plus
cooling (a partial PUE that leaves out lighting and losses, named so: `facility_from`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise

ROLES = ("utility", "it", "cooling")
MAX_GAP = timedelta(minutes=5)  # the longest unsampled stretch an hour may have and be measured
HOUR = timedelta(hours=1)
# a register type's struct code and its number of 16-bit words
TYPES: dict[str, tuple[str, int]] = {
    "int16": ("h", 1),
    "uint16": ("H", 1),
    "int32": ("i", 2),
    "uint32": ("I", 2),
    "int64": ("q", 4),
    "uint64": ("Q", 4),
    "float32": ("f", 2),
    "float64": ("d", 4),
}
# a unit's factor to kW (power) or kWh (a counter)
UNITS: dict[str, tuple[str, float]] = {
    "kW": ("power", 1.0),
    "W": ("power", 0.001),
    "MW": ("power", 1000.0),
    "kWh": ("energy", 1.0),
    "Wh": ("energy", 0.001),
    "MWh": ("energy", 1000.0),
}


class RegisterError(ValueError):
    """Words a register map cannot read (too few, or not a finite number)."""


@dataclass(frozen=True)
class Register:
    """Where a meter keeps its reading: `table` holding or input registers, from `address`,
    `type` (TYPES), the words' order (`big`: the first word is the most significant, as
    Modbus' own byte order), times `scale`, in `unit` (UNITS: power or a counter)."""

    address: int
    type: str = "float32"
    word_order: str = "big"
    scale: float = 1.0
    unit: str = "kW"
    table: str = "holding"

    @property
    def count(self) -> int:
        return TYPES[self.type][1]

    @property
    def measures(self) -> str:
        """`power` (kW now) or `energy` (a kWh counter)."""
        return UNITS[self.unit][0]


class OidError(ValueError):
    """An SNMP value an OID's map cannot read (not the type it names, or not a finite number)."""


@dataclass(frozen=True)
class Oid:
    """Where an SNMP meter (a PDU) keeps its reading: the object `oid`, of `type` (`integer`:
    INTEGER, Gauge32, Counter32/64 or Unsigned32; `string`: an OCTET STRING holding a decimal
    number, as some PDUs send), times `scale`, in `unit` (UNITS)."""

    oid: str
    type: str = "integer"
    scale: float = 1.0
    unit: str = "W"

    @property
    def measures(self) -> str:
        """`power` (kW now) or `energy` (a kWh counter)."""
        return UNITS[self.unit][0]


def decode_oid(value: int | str, oid: Oid) -> float:
    """The OID's value in kW or kWh from what the agent answered: an int for SNMP's integer
    types, the text of an OCTET STRING."""
    if oid.type == "integer":
        if not isinstance(value, int):
            raise OidError(f"{oid.oid} holds a string, not an integer: set `oid.type: string`")
        number = float(value)
    else:
        if not isinstance(value, str):
            raise OidError(f"{oid.oid} holds an integer, not a string: set `oid.type: integer`")
        try:
            number = float(value.strip())
        except ValueError:
            raise OidError(f"{oid.oid} holds {value[:40]!r}, not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise OidError(f"{oid.oid} holds {number}, not a number")
    return number * oid.scale * UNITS[oid.unit][1]


AUTH_PROTOCOLS = ("MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512")  # SNMPv3 USM
PRIV_PROTOCOLS = ("AES", "AES-192", "AES-256")  # DES and 3DES are broken: not offered


@dataclass(frozen=True)
class Usm:
    """An SNMPv3 user (RFC 3414's user-based security): its name, authentication protocol and
    key, and optionally a privacy (encryption) protocol and key; the keys are secrets (never in
    a repr). `context` is the SNMPv3 context name the agent's data is under ("": the default)."""

    user: str
    auth_protocol: str
    auth_key: str = field(repr=False)
    priv_protocol: str | None = None
    priv_key: str = field(default="", repr=False)
    context: str = ""


@dataclass(frozen=True)
class Target:
    """One meter as the reader needs it: a Modbus TCP meter's `register` or an SNMP agent's
    `oid` (read with the v2c `community`, or as the SNMPv3 user `usm`: secrets, never in a
    repr)."""

    name: str
    role: str
    host: str
    port: int
    unit_id: int
    register: Register | Oid
    timeout_s: float = 3.0  # connect, and the answer
    community: str = field(default="", repr=False)
    usm: Usm | None = field(default=None, repr=False)

    @property
    def protocol(self) -> str:
        """`snmp` or `modbus`: which reader serves it."""
        return "snmp" if isinstance(self.register, Oid) else "modbus"


@dataclass(frozen=True)
class Outcome:
    """One reading: kW (power meters) or kWh (counters), else the error, never both."""

    meter: str
    role: str
    kw: float | None = None
    kwh: float | None = None
    error: str = ""


def decode(words: Sequence[int], register: Register) -> float:
    """The register's value in kW or kWh from its 16-bit words."""
    code, count = TYPES[register.type]
    if len(words) < count:
        raise RegisterError(f"{len(words)} words where {register.type} needs {count}")
    ordered = list(words[:count])
    if register.word_order == "little":
        ordered.reverse()
    raw = b"".join(int(w & 0xFFFF).to_bytes(2, "big") for w in ordered)
    value = float(struct.unpack(f">{code}", raw)[0])
    if value != value or value in (float("inf"), float("-inf")):
        raise RegisterError(f"the register holds {value}, not a number")
    return value * register.scale * UNITS[register.unit][1]


def encode(value: float, register: Register) -> list[int]:
    """The words a meter keeps for `value` (kW or kWh): the inverse of `decode`, for a test
    server's registers and the benchmark."""
    code, count = TYPES[register.type]
    raw_value = value / register.scale / UNITS[register.unit][1]
    packed = struct.pack(f">{code}", raw_value if code in "fd" else round(raw_value))
    words = [int.from_bytes(packed[i : i + 2], "big") for i in range(0, 2 * count, 2)]
    return words[::-1] if register.word_order == "little" else words


@dataclass(frozen=True)
class Point:
    at: datetime
    value: float  # kW of a power meter, kWh of a counter


def _covered(points: Sequence[Point], start: datetime, end: datetime) -> bool:
    if not points or points[0].at - start > MAX_GAP or end - points[-1].at > MAX_GAP:
        return False
    return all(b.at - a.at <= MAX_GAP for a, b in pairwise(points))


def _level(points: Sequence[Point], at: datetime, *, flat: bool) -> float:
    """The reading at `at`, linear between the samples around it; past the ends: the end
    sample's (`flat`, power) or the line through the two end samples (counters)."""
    if len(points) == 1:
        return points[0].value
    if at <= points[0].at:
        a, b = (points[0], points[0]) if flat else (points[0], points[1])
    elif at >= points[-1].at:
        a, b = (points[-1], points[-1]) if flat else (points[-2], points[-1])
    else:
        i = next(i for i, p in enumerate(points) if p.at >= at)
        a, b = points[i - 1], points[i]
    span = (b.at - a.at).total_seconds()
    if span <= 0:
        return b.value
    return a.value + (b.value - a.value) * (at - a.at).total_seconds() / span


def mean_kw(points: Sequence[Point], start: datetime, measures: str) -> float | None:
    """A meter's mean kW over the hour from `start`, or None (a gap: too few samples, an
    unsampled stretch over MAX_GAP, or a counter that went backwards). `points`: its samples
    by time from `MAX_GAP` before the hour to `MAX_GAP` after it."""
    end = start + HOUR
    points = [p for p in points if start - MAX_GAP <= p.at <= end + MAX_GAP]
    if not _covered(points, start, end):
        return None
    if measures == "energy":
        if len(points) < 2 or any(b.value < a.value for a, b in pairwise(points)):
            return None
        return _level(points, end, flat=False) - _level(points, start, flat=False)
    inside = [(p.at, p.value) for p in points if start < p.at < end]
    edges = [
        (start, _level(points, start, flat=True)),
        *inside,
        (end, _level(points, end, flat=True)),
    ]
    total = 0.0
    for (a, va), (b, vb) in pairwise(edges):
        total += (va + vb) / 2 * (b - a).total_seconds()
    return total / HOUR.total_seconds()


@dataclass(frozen=True)
class HourPue:
    """One clock hour: mean kW by role and meter, the PUE measured, or the gap and its meters."""

    hour: datetime
    pue: float | None
    facility_kw: float | None = None
    it_kw: float | None = None
    cooling_kw: float | None = None
    facility_from: str = "utility"  # utility | it+cooling
    meters: dict[str, float | None] = field(default_factory=dict)  # each meter's mean kW
    gap: str = ""  # "" when measured; else why: missing | no-it | no-facility | no-it-power
    missing: tuple[str, ...] = ()  # the meters without samples across the hour


def hour_pue(
    hour: datetime,
    meters: Iterable[tuple[str, str, str]],
    samples: Mapping[str, Sequence[Point]],
) -> HourPue:
    """The measured PUE of the hour from `hour`: `meters` (name, role, measures) are the
    meters that count, `samples` each one's points around the hour (by time)."""
    listed = list(meters)
    kw = {name: mean_kw(samples.get(name, ()), hour, measures) for name, _, measures in listed}
    roles: dict[str, list[str]] = {role: [] for role in ROLES}
    for name, role, _ in listed:
        roles.setdefault(role, []).append(name)
    facility_from = "utility" if roles["utility"] else "it+cooling"
    needed = roles["it"] + (roles["utility"] or roles["cooling"])
    missing = tuple(sorted(n for n in needed if kw.get(n) is None))

    def total(role: str) -> float | None:
        found = [kw[n] for n in roles[role]]
        return None if not found or any(v is None for v in found) else sum(v or 0.0 for v in found)

    it, cooling, utility = total("it"), total("cooling"), total("utility")
    facility = utility
    if not roles["utility"]:
        facility = None if it is None or cooling is None else it + cooling
    base = HourPue(hour, None, facility, it, cooling, facility_from, kw, "", missing)
    if not roles["it"]:
        return _gap(base, "no-it")
    if not roles["utility"] and not roles["cooling"]:
        return _gap(base, "no-facility")
    if missing or it is None or facility is None:
        return _gap(base, "missing")
    if it <= 0:
        return _gap(base, "no-it-power")
    return HourPue(hour, facility / it, facility, it, cooling, facility_from, kw, "", ())


def _gap(found: HourPue, why: str) -> HourPue:
    return HourPue(
        found.hour,
        None,
        found.facility_kw,
        found.it_kw,
        found.cooling_kw,
        found.facility_from,
        found.meters,
        why,
        found.missing,
    )
