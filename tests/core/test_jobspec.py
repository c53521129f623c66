"""The job spec of docs/contracts.md §2: people's units in, integer units stored, bad input
named."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from aicc.core.jobspec import (
    MAX_COMMAND_ARGS,
    MAX_COMMAND_CHARS,
    MAX_DATASETS,
    MAX_ENV_VALUE_CHARS,
    MAX_LABELS,
    MAX_PRIORITY,
    MAX_RUNTIME_S,
    MAX_SECRETS,
    MIN_PRIORITY,
    NAME_PATTERN,
    JobKind,
    JobSpec,
    again,
    default_name,
    job_spec_schema,
)
from aicc.core.mistakes import InputError, first_problem
from aicc.core.spec_written import as_written

CONTRACT_EXAMPLE = """
name: resnet-demo
project: default
queue: default
kind: train
command: python train.py
workdir: .
image: null
env: {KEY: value}
secrets: [hf-token]
replicas: 1
resources:
  cpu: 2
  memory: 8GiB
  accelerator:
    count: 1
    model: [H100-SXM, A100-80GB]
    memory: 20GiB
priority: high
max_runtime: 2h
max_retries: 0
checkpoint_dir: ckpt/
datasets: []
scenario: null
labels: {team: vision}
"""


def spec(**fields: Any) -> JobSpec:
    return JobSpec.model_validate({"command": "true", **fields})


def error_of(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        JobSpec.model_validate(data)
    return str(info.value)


def test_the_contract_example_validates_to_integer_units() -> None:
    job = JobSpec.model_validate(yaml.safe_load(CONTRACT_EXAMPLE))
    assert job.name == "resnet-demo"
    assert job.kind is JobKind.TRAIN
    assert job.command == "python train.py"
    assert job.env == {"KEY": "value"}
    assert job.secrets == ["hf-token"]
    assert job.resources.cpu_milli == 2000
    assert job.resources.memory_mib == 8192
    accel = job.resources.accelerator
    assert accel.count == 1
    assert accel.milli is None
    assert accel.memory_mib == 20480
    assert accel.models == ["H100-SXM", "A100-80GB"]
    assert accel.total_milli == 1000
    assert not accel.fractional
    assert job.priority == 1000
    assert job.max_runtime_s == 7200
    assert job.labels == {"team": "vision"}
    assert job.argv() == ["/bin/sh", "-c", "python train.py"]


def test_the_stored_form_uses_the_integer_field_names() -> None:
    stored = JobSpec.model_validate(yaml.safe_load(CONTRACT_EXAMPLE)).model_dump(mode="json")
    assert stored["resources"]["cpu_milli"] == 2000
    assert stored["resources"]["memory_mib"] == 8192
    assert stored["resources"]["accelerator"]["memory_mib"] == 20480
    assert stored["max_runtime_s"] == 7200
    assert stored["priority"] == 1000


def test_command_is_the_only_required_field() -> None:
    job = JobSpec.model_validate({"command": "echo hi"})
    assert job.kind is JobKind.TRAIN
    assert job.replicas == 1
    assert job.priority == 100
    assert job.resources.accelerator.count == 0
    assert job.max_runtime_s is None
    assert "command" in error_of({})


@pytest.mark.parametrize("command", ["", "   ", [], ["python", ""]])
def test_an_empty_command_is_refused(command: Any) -> None:
    assert "command must not be empty" in error_of({"command": command})


def test_a_list_command_is_executed_as_is() -> None:
    assert spec(command=["python", "-c", "print(1)"]).argv() == ["python", "-c", "print(1)"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"command": "x", "gpus_per_node": 8}, "gpus_per_node"),
        ({"command": "x", "resources": {"disk": "10GiB"}}, "disk"),
        ({"command": "x", "resources": {"accelerator": {"vendor": "nvidia"}}}, "vendor"),
    ],
)
def test_unknown_fields_are_refused_by_name(data: dict[str, Any], field: str) -> None:
    message = error_of(data)
    assert field in message
    assert "Extra inputs are not permitted" in message


@pytest.mark.parametrize("kind", ["notebook", "service"])
def test_listening_kinds_are_accepted_and_port_is_aiccs(kind: str) -> None:
    assert spec(kind=kind).kind == kind
    assert "set by AICC" in error_of({"command": "x", "kind": kind, "env": {"PORT": "80"}})


def test_infer_jobs_are_accepted() -> None:
    assert spec(kind="infer").kind is JobKind.INFER


@pytest.mark.parametrize(
    "name",
    [
        "AICC_JOB_ID",
        "AICC_ANYTHING",
        "RANK",
        "WORLD_SIZE",
        "LOCAL_RANK",
        "NODE_RANK",
        "MASTER_ADDR",
        "MASTER_PORT",
    ],
)
def test_names_aicc_sets_at_launch_cannot_be_given(name: str) -> None:
    message = error_of({"command": "x", "env": {name: "1"}})
    assert name in message
    assert "set by AICC" in message


@pytest.mark.parametrize("name", ["1ABC", "A-B", "A B", ""])
def test_invalid_env_names_are_refused(name: str) -> None:
    assert "not valid" in error_of({"command": "x", "env": {name: "1"}})


def test_ordinary_env_names_are_kept() -> None:
    assert spec(env={"HF_HOME": "/data", "_x1": "y"}).env == {"HF_HOME": "/data", "_x1": "y"}


@pytest.mark.parametrize("share", [{"milli": 500}, {"share": 0.5}, {"milli": "500m"}])
def test_a_share_is_one_fractional_device(share: dict[str, Any]) -> None:
    accel = spec(resources={"accelerator": share}).resources.accelerator
    assert accel.count == 1
    assert accel.milli == 500
    assert accel.fractional
    assert accel.total_milli == 500


def test_a_share_can_ask_for_device_memory() -> None:
    accel = spec(resources={"accelerator": {"share": 0.25, "memory": "10GiB"}}).resources
    assert accel.accelerator.memory_mib == 10240


def test_a_full_share_is_a_whole_device() -> None:
    accel = spec(resources={"accelerator": {"milli": 1000}}).resources.accelerator
    assert (accel.count, accel.total_milli, accel.fractional) == (1, 1000, False)


def test_count_and_a_share_together_are_refused() -> None:
    message = error_of({"command": "x", "resources": {"accelerator": {"count": 2, "milli": 500}}})
    assert "either `count`" in message


@pytest.mark.parametrize("share", [0, 1001, "2", -0.5])
def test_a_share_outside_one_device_is_refused(share: Any) -> None:
    error_of({"command": "x", "resources": {"accelerator": {"share": share}}})


def test_a_mig_slice_is_one_device_of_a_model_that_offers_the_profile() -> None:
    accel = spec(resources={"accelerator": {"mig": "1G.10GB", "model": "A100"}}).resources
    assert (accel.accelerator.mig, accel.accelerator.count) == ("1g.10gb", 1)
    assert accel.accelerator.models == ["A100-80GB"] and accel.accelerator.total_milli == 142


def test_a_mig_slice_without_models_is_narrowed_to_those_that_offer_it() -> None:
    models = spec(resources={"accelerator": {"mig": "1g.10gb"}}).resources.accelerator.models
    assert models is not None and "A100-80GB" in models and "H100-SXM" in models
    assert "A100-40GB-PCIe" in models and "H200" not in models and "L4" not in models


@pytest.mark.parametrize(
    ("accelerator", "words"),
    [
        ({"mig": "1g.5gb", "model": "A100-80GB"}, ["1g.5gb", "offers: 1g.10gb, 1g.20gb"]),
        ({"mig": "1g.10gb", "model": "L4"}, ["L4 has no MIG profile", "offers: none"]),
        ({"mig": "9g.1gb"}, ["no accelerator model offers MIG profile '9g.1gb'", "1g.5gb"]),
        ({"mig": "1g.10gb", "count": 2}, ["one slice per replica", "replicas"]),
        ({"mig": "1g.10gb", "milli": 500}, ["leave out `milli` and `memory`"]),
        ({"mig": "1g.10gb", "memory": "5GiB"}, ["leave out `milli` and `memory`"]),
    ],
)
def test_a_bad_mig_request_says_what_to_change(
    accelerator: dict[str, Any], words: list[str]
) -> None:
    message = error_of({"command": "x", "resources": {"accelerator": accelerator}})
    assert all(word in message for word in words), message


def test_gpus_shorthand_asks_for_whole_devices() -> None:
    accel = spec(resources={"gpus": 4}).resources.accelerator
    assert (accel.count, accel.total_milli) == (4, 4000)


def test_a_single_model_and_class_any() -> None:
    one = spec(resources={"accelerator": {"count": 1, "model": "H20"}})
    assert one.resources.accelerator.models == ["H20"]
    anything = spec(resources={"accelerator": {"count": 1, "class": "any"}})
    assert anything.resources.accelerator.models is None
    bad = {"command": "x", "resources": {"accelerator": {"count": 1, "class": "fast"}}}
    assert "class" in error_of(bad)


@pytest.mark.parametrize(("word", "value"), [("low", 0), ("normal", 100), ("high", 1000)])
def test_priority_words(word: str, value: int) -> None:
    assert spec(priority=word).priority == value


def test_priority_integer_and_unknown_word() -> None:
    assert spec(priority=250).priority == 250
    assert "low, normal, high" in error_of({"command": "x", "priority": "urgent"})


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"resources": {"cpu": "lots"}}, "cpu"),
        ({"resources": {"memory": "lots"}}, "4GiB"),
        ({"resources": {"cpu": None}}, "cpu"),
        ({"resources": {"memory": [1]}}, "memory"),
        ({"resources": {"cpu": float("inf")}}, "cpu"),
        ({"resources": {"accelerator": {"share": None}}}, "share"),
        ({"max_runtime": "soon"}, "1h30m"),
        ({"max_runtime": [1]}, "duration"),
        ({"replicas": 0}, "replicas"),
        ({"name": "Not A Name"}, "name"),
        ({"resources": {"cpu": 0}}, "cpu_milli"),
    ],
)
def test_bad_values_are_validation_errors_that_say_what_is_wrong(
    data: dict[str, Any], field: str
) -> None:
    """A ValidationError is the API's 422; any other exception would be a 500 for bad input."""
    assert field in error_of({"command": "x", **data})


def test_every_mistake_of_a_spec_is_reported_at_once() -> None:
    """A person fixes them in one go: a duration that does not parse once hid the rest."""
    data = {
        "command": "x",
        "max_runtime": "2x",
        "priority": "urgent",
        "replicas": "many",
        "resources": {"cpu": -1, "memory": "lots", "accelerator": {"share": "half"}},
    }
    with pytest.raises(ValidationError) as refused:
        JobSpec.model_validate(data)
    found = {".".join(map(str, e["loc"])): e["msg"] for e in refused.value.errors()}
    assert set(found) == {
        "max_runtime",
        "priority",
        "replicas",
        "resources.cpu",
        "resources.memory",
        "resources.accelerator.share",
    }
    assert "'2x' must look like '2h'" in found["max_runtime"]
    assert "must not be negative" in found["resources.cpu"]
    assert "a share 'half' is not a number like 0.5" in found["resources.accelerator.share"]
    assert "one of low, normal, high" in found["priority"]


def test_no_max_runtime_means_none() -> None:
    assert spec(max_runtime=None).max_runtime_s is None


def test_json_schema_requires_only_command() -> None:
    schema = job_spec_schema()
    assert schema["type"] == "object"
    assert schema["required"] == ["command"]
    assert {"command", "resources", "replicas", "priority"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False


# Valid specs in people's units, in the shapes the contract documents.
_quantity_cpu = st.one_of(
    st.integers(min_value=1, max_value=256),
    st.integers(min_value=1, max_value=256_000).map(lambda m: f"{m}m"),
)
_quantity_memory = st.one_of(
    st.integers(min_value=1, max_value=4096).map(lambda m: f"{m}MiB"),
    st.integers(min_value=1, max_value=1024).map(lambda g: f"{g}GiB"),
)
_models = st.lists(st.sampled_from(["H100-SXM", "A100-80GB", "H20"]), min_size=1, max_size=3)
_accelerator = st.one_of(
    st.fixed_dictionaries(
        {}, optional={"count": st.integers(min_value=0, max_value=8), "model": _models}
    ),
    st.fixed_dictionaries(
        {"milli": st.integers(min_value=1, max_value=1000)},
        optional={"memory": _quantity_memory, "model": _models},
    ),
    st.fixed_dictionaries(
        {"share": st.sampled_from([0.1, 0.25, 0.5, 1])}, optional={"model": _models}
    ),
)
_text = st.text(alphabet="abcdefghij-_ 0123456789", min_size=1, max_size=12)


def _settable(name: str) -> bool:
    """Names AICC sets itself are refused on purpose; the generator keeps to valid specs."""
    reserved = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT"}
    return not name.startswith("AICC_") and name not in reserved


_env_names = st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True).filter(_settable)
valid_specs: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {"command": st.one_of(_text.filter(str.strip), st.lists(_text, min_size=1, max_size=3))},
    optional={
        "name": st.from_regex(r"[a-z0-9]([a-z0-9._-]{0,10}[a-z0-9])?", fullmatch=True),
        "kind": st.sampled_from(["train", "infer"]),
        "env": st.dictionaries(_env_names, _text, max_size=3),
        "replicas": st.integers(min_value=1, max_value=64),
        "priority": st.one_of(
            st.sampled_from(["low", "normal", "high"]), st.integers(-1000, 10_000)
        ),
        "max_runtime": st.one_of(
            st.integers(min_value=1, max_value=10**6), st.sampled_from(["2h", "1h30m", "90s"])
        ),
        "max_retries": st.integers(min_value=0, max_value=100),
        "labels": st.dictionaries(_text, _text, max_size=3),
        "resources": st.fixed_dictionaries(
            {},
            optional={
                "cpu": _quantity_cpu,
                "memory": _quantity_memory,
                "accelerator": _accelerator,
            },
        ),
    },
)


@given(valid_specs)
def test_the_stored_form_validates_back_to_the_same_spec(data: dict[str, Any]) -> None:
    job = JobSpec.model_validate(data)
    assert JobSpec.model_validate(job.model_dump(mode="json")) == job


# --- bounds and sound input (issue 16): one validation for the API, the CLI and the scheduler ---


@given(st.one_of(st.text(min_size=1), st.lists(st.text(min_size=1), min_size=1, max_size=3)))
def test_a_generated_name_is_valid_for_any_command(command: str | list[str]) -> None:
    """`./训练.sh` once gave `训练-sh-…`, which the snapshot refused: every pass failed."""
    if isinstance(command, str) and not command.strip():
        command = "x" + command
    name = default_name(command, "q2m4xz")
    assert re.match(NAME_PATTERN, name), name
    assert JobSpec.model_validate({"command": "true", "name": name}).name == name


def test_generated_names_keep_what_ascii_holds() -> None:
    assert default_name("./训练.sh --epochs 3", "q2m4xz") == "sh-q2m4xz"
    assert default_name("训练", "q2m4xz") == "job-q2m4xz"
    assert default_name(["/usr/bin/Python3.11", "-m"], "q2m4xz") == "python3-11-q2m4xz"


@pytest.mark.parametrize(
    ("field", "at_limit", "over"),
    [
        ("priority", MAX_PRIORITY, MAX_PRIORITY + 1),
        ("priority", MIN_PRIORITY, MIN_PRIORITY - 1),
        ("max_runtime", MAX_RUNTIME_S, MAX_RUNTIME_S + 1),
        ("command", "x" * MAX_COMMAND_CHARS, "x" * (MAX_COMMAND_CHARS + 1)),
        ("command", ["x"] * MAX_COMMAND_ARGS, ["x"] * (MAX_COMMAND_ARGS + 1)),
        ("env", {"V": "v" * MAX_ENV_VALUE_CHARS}, {"V": "v" * (MAX_ENV_VALUE_CHARS + 1)}),
        (
            "env",
            {f"V{i}": "v" * 8_000 for i in range(4)},
            {f"V{i}": "v" * 8_200 for i in range(4)},
        ),
        ("labels", {f"k{i}": "v" for i in range(MAX_LABELS)}, {f"k{i}": "" for i in range(65)}),
        ("secrets", ["s"] * MAX_SECRETS, ["s"] * (MAX_SECRETS + 1)),
        ("datasets", ["d"] * MAX_DATASETS, ["d"] * (MAX_DATASETS + 1)),
    ],
)
def test_each_limit_holds_at_its_value_and_refuses_one_more(
    field: str, at_limit: Any, over: Any
) -> None:
    JobSpec.model_validate({"command": "true", field: at_limit})
    with pytest.raises(ValidationError) as err:
        JobSpec.model_validate({"command": "true", field: over})
    assert field in first_problem(err.value)


@pytest.mark.parametrize(
    ("spec", "where"),
    [
        ({"command": "true", "resources": {"cpu": float("nan")}}, "resources.cpu"),
        ({"command": "true", "priority": float("inf")}, "priority"),
        ({"command": "true", "max_runtime": float("-inf")}, "max_runtime"),
        ({"command": "\ud800"}, "command"),
        ({"command": "true", "env": {"A\udfff": "x"}}, "env"),
        ({"command": "true", "labels": {"k": "a\x00b"}}, "labels.k"),
        ({"command": "x" * 200_000}, "command"),
        ({"command": "true", "scenario": {"a": [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}}, "scenario.a"),
    ],
)
def test_unsound_input_is_refused_where_it_is_with_errors_that_serialize(
    spec: dict[str, Any], where: str
) -> None:
    """NaN or a lone surrogate echoed in a 422 made the answer itself fail (a 500)."""
    with pytest.raises(ValidationError) as err:
        JobSpec.model_validate(spec)
    assert first_problem(err.value).startswith(where), first_problem(err.value)
    errors = err.value.errors(include_url=False)
    json.dumps(errors, allow_nan=False, ensure_ascii=False).encode("utf-8")


def test_aliased_yaml_costs_no_more_than_the_size_limit() -> None:
    """A billion laughs: anchors make a small document a huge tree; the walk stops early."""
    text = "command: true\nscenario:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 12):
        text += f"  a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]\n"
    with pytest.raises(ValidationError, match="larger than its limit"):
        JobSpec.model_validate(yaml.safe_load(text))


# --- deferrable jobs and deadlines (issue 22 point 3) ---------------------------------------------


def _errors(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        JobSpec.model_validate({"command": "x", **data})
    return [(e["loc"], str(e["msg"])) for e in caught.value.errors(include_url=False)]


def test_a_deferrable_job_keeps_its_window_in_stored_units() -> None:
    spec = JobSpec.model_validate(
        yaml.safe_load("command: x\ndeferrable: true\nmax_runtime: 2h\ndeadline: 1d\n")
    )
    assert spec.deferrable and spec.max_runtime_s == 7200
    assert spec.deadline_after_s == 86400 and spec.deadline is None
    from datetime import UTC, datetime

    at = datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert spec.resolve_deadline(at) == datetime(2026, 11, 26, 12, tzinfo=UTC)


def test_an_absolute_deadline_is_stored_in_utc() -> None:
    spec = JobSpec.model_validate(
        yaml.safe_load("command: x\ndeadline: 2026-11-26T06:00:00+08:00\n")
    )
    assert spec.model_dump(mode="json")["deadline"] == "2026-11-25T22:00:00Z"
    assert not spec.deferrable  # a deadline alone moves nothing


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"deferrable": True, "deadline": "1d"}, "deferrable", "max_runtime"),
        ({"deferrable": True, "max_runtime": "2h"}, "deferrable", "deadline"),
        ({"max_runtime": "2h", "deadline": "1h"}, "deadline", "shorter than max_runtime"),
        ({"deadline": "2026-11-26T06:00:00"}, "deadline", "time zone"),
        ({"deadline": "soon"}, "deadline", "must look like"),
    ],
)
def test_a_window_that_cannot_work_is_refused_by_field(
    data: dict[str, Any], field: str, words: str
) -> None:
    errors = _errors(data)
    assert errors[0][0] == (field,)
    assert words in errors[0][1]


def test_a_spec_as_written_is_the_same_spec_and_reads_as_people_write_it() -> None:
    spec = JobSpec.model_validate(
        {
            "name": "x",
            "command": "echo hi",
            "env": {"cpu_milli": "kept as it is"},
            "resources": {"cpu": "1500m", "memory": "1536MiB", "accelerator": {"model": "H100"}},
            "max_runtime": "2h1m5s",
        }
    )
    written = as_written(spec)
    assert written["resources"]["cpu"] == "1500m" and written["resources"]["memory"] == "1536MiB"
    assert written["resources"]["accelerator"]["model"] == "H100-SXM"
    assert written["max_runtime"] == "2h1m5s" and written["env"] == {"cpu_milli": "kept as it is"}
    assert JobSpec.model_validate(written) == spec
    whole = as_written(JobSpec.model_validate({"command": "x", "resources": {"cpu": 2}}))
    assert whole["resources"] == {"cpu": 2}


def test_a_job_runs_again_in_its_own_project_but_not_a_deployments_replica() -> None:
    spec = again({"command": "x", "project": "p_other"}, "p_own")
    assert spec.project == "p_own"
    with pytest.raises(InputError, match="restart that instead"):
        again({"command": "x", "kind": "service"}, "p_own")
