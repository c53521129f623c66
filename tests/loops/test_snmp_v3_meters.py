"""SNMPv3 facility meters (issue 62) against a real agent, snmpsim's command responder started
for one SNMPv3 user (SHA-256 authentication, AES encryption) by aicc/testing/snmp.py, read with
pysnmp's `UsmUserData`: a read; a wrong authentication key, a wrong privacy key and an unknown
user each an error that names the field to check, within the meter's timeout, never a stalled
read; and a config that is incomplete refused with the field named, the keys kept secret."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from pydantic import ValidationError

from aicc.config import MeterSettings
from aicc.core.meters import Oid, Target, Usm
from aicc.executors import snmp as reader
from aicc.loops.meters import target

pytest.importorskip("pysnmp")
pytest.importorskip("snmpsim")
from aicc.testing import snmp

WATTS = Oid("1.3.6.1.4.1.318.1.1.12.1.16.0", unit="W")  # APC rPDU total active power, W
USER = Usm("aicc-ro", "SHA-256", "auth-pass-1", "AES", "priv-pass-1")


@pytest.fixture(scope="module")
def agent() -> Iterator[snmp.Agent]:
    found = snmp.Agent({WATTS.oid: (66, "1000000")}, community="v2-unused", usm=USER)
    try:
        yield found.start()
    finally:
        found.stop()


def read(port: int, usm: Usm, timeout_s: float = 10.0) -> Any:
    found = Target("pdu", "it", "127.0.0.1", port, 0, WATTS, timeout_s=timeout_s, usm=usm)
    try:
        began = time.monotonic()
        return reader.read(found), time.monotonic() - began
    finally:
        reader.close_thread()


def test_an_snmpv3_user_reads_and_wrong_keys_are_refused_naming_the_key(
    agent: snmp.Agent,
) -> None:
    got, _ = read(agent.port, USER)
    assert got.kw == pytest.approx(1000.0) and not got.error, got
    for wrong, field in (
        (replace(USER, auth_key="not-the-key"), "snmpv3.auth_key"),
        (replace(USER, priv_key="not-the-key"), "snmpv3.priv_key"),
        (replace(USER, user="nobody"), "snmpv3.user"),
    ):
        got, _ = read(agent.port, wrong)
        assert got.kw is None and got.kwh is None
        # the agent's refusal (a USM report), not the meter's timeout: a stalled read would
        # end in a timeout error, not this one (how long it took is the runner's load)
        assert "SNMPv3 refused" in got.error and f"check `{field}`" in got.error, got
        assert "no SNMP answer" not in got.error, got
    assert "auth-pass-1" not in repr(Target("p", "it", "h", 1, 0, WATTS, usm=USER))


METER: dict[str, Any] = {
    "name": "pdu", "role": "it", "protocol": "snmp", "host": "127.0.0.1", "timeout_s": 10,
    "oid": {"oid": "." + WATTS.oid, "unit": "W"},
}  # fmt: skip
V3 = {"user": "aicc-ro", "auth_protocol": "SHA-256", "auth_key": "auth-pass-1",
      "priv_protocol": "AES", "priv_key": "priv-pass-1"}  # fmt: skip


def test_a_configured_snmpv3_meter_is_read(agent: snmp.Agent) -> None:
    meter = MeterSettings.model_validate({**METER, "port": agent.port, "snmpv3": V3})
    found = target(meter)
    assert found.usm == USER and found.community == ""
    assert "auth-pass-1" not in repr(meter) and "priv-pass-1" not in repr(meter)
    got, _ = read(agent.port, found.usm)
    assert got.kw == pytest.approx(1000.0)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"snmpv3": {k: v for k, v in V3.items() if k != "auth_key"}}, "snmpv3.auth_key"),
        ({"snmpv3": {k: v for k, v in V3.items() if k != "user"}}, "snmpv3.user"),
        ({"snmpv3": {k: v for k, v in V3.items() if k != "priv_key"}}, "snmpv3.priv_key"),
        ({"snmpv3": {k: v for k, v in V3.items() if k != "priv_protocol"}},
         "snmpv3.priv_protocol"),
        ({"snmpv3": {**V3, "auth_key": "short"}}, "snmpv3.auth_key"),
        ({"snmpv3": {**V3, "priv_protocol": "DES"}}, "snmpv3.priv_protocol"),
        ({"snmpv3": V3, "community": "public"}, "`community` (v2c) or `snmpv3`"),
        ({}, "`snmpv3` (its SNMPv3 user and keys)"),
    ],
)  # fmt: skip
def test_an_incomplete_snmpv3_config_is_refused_naming_the_field(
    changes: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValidationError) as err:
        MeterSettings.model_validate({**METER, **changes})
    text = str(err.value)
    dotted = "\n".join(
        ".".join(str(p) for p in e["loc"]) + " " + e["msg"] for e in err.value.errors()
    )
    assert named in text or named in dotted, text
