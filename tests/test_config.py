"""Settings from `config.yaml`, `AICC_*` variables and flags: every setting has a variable, and
the layers merge setting by setting."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_docs import examples

from aicc import config


def _variables(values: Any, path: tuple[str, ...] = ()) -> dict[str, str]:
    """`{"gateway": {"read_timeout_s": 30}}` as `{"AICC_GATEWAY__READ_TIMEOUT_S": "30"}`;
    a list, or a mapping whose keys are data (not settings), as one JSON value."""
    data_keys: tuple[tuple[str, ...], ...] = (("profiles",), ("accelerator_hour",), ("queue",))
    data_keys += (("wait_s",), ("objectives_ms",), ("site_environments",))
    if (
        isinstance(values, dict)
        and path[-1:] not in data_keys
        and path[-2:] != ("safety", "deployments")
    ):
        out: dict[str, str] = {}
        for key, value in values.items():
            out |= _variables(value, (*path, key))
        return out
    name = "AICC_" + "__".join(part.upper() for part in path)
    text = values if isinstance(values, str) else json.dumps(values)
    return {name: text}


@pytest.mark.parametrize(
    "block", examples("config.md", "# example: config") + examples("sso.md", "# example: config")
)
def test_every_setting_of_the_documented_examples_can_come_from_the_environment(
    block: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("AICC_") and "__" in n]:
        monkeypatch.delenv(name)  # the run's own (tests/conftest.py): neither side has them
    values = yaml.safe_load(block)
    (tmp_path / "from-file").mkdir()
    (tmp_path / "from-file" / "config.yaml").write_text(block)
    from_file = config.load(tmp_path / "from-file")
    (tmp_path / "from-env").mkdir()
    for name, value in _variables(values).items():
        monkeypatch.setenv(name, value)
    from_env = config.load(tmp_path / "from-env")
    assert from_env.model_dump(exclude={"home"}) == from_file.model_dump(exclude={"home"})


def test_flags_over_variables_over_the_file_setting_by_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.yaml").write_text(
        "port: 9000\npolicy: fifo\ngateway: {connect_timeout_s: 2, read_timeout_s: 100}\n"
    )
    monkeypatch.setenv("AICC_GATEWAY__READ_TIMEOUT_S", "30")  # one field of a section
    monkeypatch.setenv("AICC_PORT", "9050")
    monkeypatch.setenv("AICC_POLICY", "")  # empty: as if not set
    monkeypatch.setenv("AICC_SERVER", "http://elsewhere")  # the clients', not a setting
    loaded = config.load(tmp_path, port=9100)
    assert (loaded.port, loaded.policy) == (9100, "fifo")
    assert (loaded.gateway.connect_timeout_s, loaded.gateway.read_timeout_s) == (2.0, 30.0)
    assert type(loaded) is config.Settings


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("AICC_PORT", "many", "port: Input should be a valid integer"),
        ("AICC_GATEWAY__NOPE", "1", "gateway.nope: Extra inputs are not permitted"),
        ("AICC_TRUSTED_PROXIES", "[not json", "trusted_proxies"),
        ("AICC_OIDC__ISSUER", "http://sso.example.com", "oidc.issuer must be an https:// URL"),
    ],
)
def test_a_bad_variable_is_named_in_the_error(
    name: str, value: str, said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(config.ConfigError) as refused:
        config.load(tmp_path)
    assert said in str(refused.value) and "AICC_* variables" in str(refused.value)
    assert "Traceback" not in str(refused.value)


def test_two_servers_on_different_ports_get_registries_of_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 58: a second AICC on the same host restarted a registry on the first's port every
    few seconds. The embedded registry's address follows the server's port."""
    first = config.load(tmp_path / "a")
    assert first.registry.address() == "http://127.0.0.1:5000"  # as before, for 8080
    second = config.load(tmp_path / "b", port=8090)
    assert second.registry.address() == "http://127.0.0.1:5010"
    monkeypatch.setenv("AICC_PORT", "9000")
    assert config.load(tmp_path / "c").registry.listen == "127.0.0.1:5920"
    low = config.load(tmp_path / "d", port=80)  # no unprivileged port 3080 below: the old one
    assert low.registry.listen == "127.0.0.1:5000"
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "config.yaml").write_text("registry: {listen: 127.0.0.1:7000}\n")
    assert config.load(tmp_path / "e", port=8090).registry.listen == "127.0.0.1:7000"


SNMP_PDU = {"name": "pdu", "role": "it", "protocol": "snmp", "host": "10.20.0.14"}


@pytest.mark.parametrize(
    ("meter", "said"),
    [
        ({**SNMP_PDU, "community": "ro"}, "an snmp meter needs `oid`"),
        ({**SNMP_PDU, "oid": {"oid": "1.3.6.1.2.1.1.0"}}, "an snmp meter needs `community`"),
        (
            {**SNMP_PDU, "community": "ro", "oid": {"oid": "1.3.6.1.2.1.1.0"},
             "registers": {"address": 1}},
            "`registers` are for `protocol: modbus` meters",
        ),
        ({**SNMP_PDU, "protocol": "modbus"}, "a modbus meter needs `registers`"),
        (
            {**SNMP_PDU, "protocol": "modbus", "registers": {"address": 1}, "community": "ro"},
            "`oid`, `community` and `snmpv3` are for `protocol: snmp` meters",
        ),
        ({**SNMP_PDU, "community": "ro", "oid": {"oid": "sysDescr.0"}}, "meters.0.oid.oid"),
    ],
)  # fmt: skip
def test_a_meter_names_one_map_by_its_protocol(
    meter: dict[str, Any], said: str, tmp_path: Path
) -> None:
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"meters": [meter]}))
    with pytest.raises(config.ConfigError) as refused:
        config.load(tmp_path)
    assert said in str(refused.value) and "Traceback" not in str(refused.value)


def test_an_snmp_meter_reads_port_161_and_hides_its_community(tmp_path: Path) -> None:
    pdu = {**SNMP_PDU, "community": "s3cret-ro", "oid": {"oid": ".1.3.6.1.4.1.318.1.1.12.1.16.0"}}
    grid = {"name": "grid", "role": "utility", "host": "10.20.0.11", "registers": {"address": 3}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"meters": [pdu, grid]}))
    loaded = config.load(tmp_path)
    snmp, modbus = loaded.meters
    assert (snmp.port, snmp.oid is not None, snmp.oid and snmp.oid.unit) == (161, True, "W")
    assert modbus.port == 502 and modbus.protocol == "modbus"
    assert snmp.community is not None and snmp.community.get_secret_value() == "s3cret-ro"
    assert "s3cret-ro" not in repr(loaded) and "s3cret-ro" not in loaded.model_dump_json()


SITE = {"paths": ["/opt/site/flow"], "path": ["/opt/site/flow/bin"], "env": {"PIP_NO_INDEX": "1"}}


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ({"site_environments": {"flow": {**SITE, "paths": ["opt/flow"]}}}, "absolute directory"),
        ({"site_environments": {"flow": {**SITE, "paths": ["/opt/../etc"]}}}, "without '..'"),
        ({"site_environments": {"flow": {**SITE, "path": ["/usr/bin"]}}}, "inside one of paths"),
        ({"site_environments": {"flow": {**SITE, "env": {"PATH": "/x"}}}}, "other than PATH"),
        ({"site_environments": {"flow": {**SITE, "env": {"AICC_HOME": "/x"}}}}, "the server's"),
        ({"site_environments": {"flow": {**SITE, "env": {"1X": "y"}}}}, "a variable name"),
        ({"site_environments": {"flow": SITE}, "generic_base_environment": "flw"}, "(flow)"),
        ({"generic_base_environment": "flow"}, "site_environments (none)"),
    ],
)  # fmt: skip
def test_a_site_environment_is_refused_naming_what_to_fix(
    settings: dict[str, Any], said: str, tmp_path: Path
) -> None:
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(settings))
    with pytest.raises(config.ConfigError) as refused:
        config.load(tmp_path)
    assert said in str(refused.value) and "Traceback" not in str(refused.value)


def test_a_site_environment_is_read_as_given(tmp_path: Path) -> None:
    given = {"site_environments": {"flow": SITE}, "generic_base_environment": "flow"}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(given))
    loaded = config.load(tmp_path)
    assert loaded.generic_base_environment == "flow"
    assert loaded.site_environments["flow"].model_dump() == SITE


def test_a_site_environment_never_shows_the_servers_home(tmp_path: Path) -> None:
    for place in (str(tmp_path.parent), str(tmp_path / "venv")):
        site = {"paths": [place], "path": [], "env": {}}
        (tmp_path / "config.yaml").write_text(yaml.safe_dump({"site_environments": {"x": site}}))
        with pytest.raises(config.ConfigError) as refused:
            config.load(tmp_path)
        assert "would show the server's" in str(refused.value), refused.value
