"""GA4GH TES 1.1 (the Task Execution Service) on AICC's jobs, the pure part: the task document a
workflow engine sends, its translation into one job, and a job's state as a TES state.

A task is one job of its submitter's project: its executors run in order in one replica, from a
runner script (`runner`) the server ships as the job's working directory with the inputs' inline
contents beside it. Everything a tenant wrote (the commands, the inputs' URLs) runs inside the
job's sandbox: the server never fetches a URL nor runs a command of a task. What AICC cannot do
as asked (a URL scheme it does not read, an image it cannot run, a backend parameter it does
not know with `backend_parameters_strict`) is refused with a message that says what to send
instead (`Refusal`, a 400 of the TES routes); docs/interop.md lists both.
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aicc.core import accelerator_names
from aicc.core.datasets import DatasetError, check_path, parse_ref
from aicc.core.jobspec import (
    ENV_NAME,
    MAX_ACCELERATORS,
    MAX_CPU_MILLI,
    MAX_MEMORY_MIB,
    PRIORITIES,
    RESERVED_ENV,
    RESERVED_ENV_PREFIXES,
)
from aicc.core.units import parse_duration_s

VERSION = "1.1.0"
# Bounds of a task document (a request body is at most `limits.max_request_mib` besides).
MAX_EXECUTORS = 64
MAX_FILES = 1024  # inputs, and outputs
MAX_VOLUMES = 64
MAX_TAGS = 64
MAX_TEXT = 4096  # a name, a path, a URL, an image, one argument
MAX_DESCRIPTION = 16 * 1024
MAX_CONTENT = 1024 * 1024  # one input's inline content (TES asks for at least 128 KiB)
MAX_CONTENTS = 4 * 1024 * 1024  # all of a task's inline contents together
MAX_ARGS = 4096
MAX_ENV = 512
MAX_PAGE = 2047  # "must be less than 2048"
DEFAULT_PAGE = 256
DIR = "aicc-tes"  # the task's folder in the job's working directory: run.sh, inputs/N
LOGS = ".tes"  # under $AICC_OUTPUT_DIR: each executor's record and output, a system error
SYSTEM_ERROR = "system_error"  # $AICC_OUTPUT_DIR/.tes/system_error: not the executors' fault
OUTPUTS_URL = "aicc://outputs/"
TAIL_BYTES = 64 * 1024  # of an executor's stdout and stderr in the FULL view

# backend_parameters AICC reads (keys are case insensitive); service-info lists them.
BACKEND_PARAMETERS = (
    "aicc_project",  # the project the task's job runs in (default: the caller's own)
    "aicc_queue",  # the project's queue (default: its `default`); also the one `zones` names
    "aicc_accelerator",  # an accelerator model of the catalog (`H100`, `A100`, `910B`, ...)
    "aicc_accelerators",  # how many whole accelerators (1 with a model and no count)
    "aicc_max_runtime",  # `2h`, `30m` or seconds
    "aicc_priority",  # low, normal, high or a number
)
# Base images AICC does not pull: a task that names one runs in the job's sandbox, on the
# node's own system and AICC's Python, which give what these images are asked for (a shell,
# coreutils, python3). docs/interop.md says so.
GENERIC_IMAGES = frozenset(
    {"alpine", "busybox", "debian", "ubuntu", "bash", "python", "buildpack-deps", "centos"}
    | {"rockylinux", "almalinux", "fedora", "amazonlinux", "opensuse/leap", "archlinux"}
)


class Refusal(ValueError):
    """Something of a task AICC will not run as asked; the message says what to send instead."""


class State(StrEnum):
    UNKNOWN = "UNKNOWN"
    QUEUED = "QUEUED"
    INITIALIZING = "INITIALIZING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"  # AICC does not pause jobs: never answered
    COMPLETE = "COMPLETE"
    EXECUTOR_ERROR = "EXECUTOR_ERROR"
    SYSTEM_ERROR = "SYSTEM_ERROR"
    CANCELED = "CANCELED"
    PREEMPTED = "PREEMPTED"
    CANCELING = "CANCELING"


class View(StrEnum):
    MINIMAL = "MINIMAL"
    BASIC = "BASIC"
    FULL = "FULL"


# How a failed job's reason reads in TES: the task's own program failed, or the system did.
_EXECUTOR_REASONS = frozenset({"exit_code", "oom_killed", "runtime_exceeded", "signal"})


def state_of(state: str, reason: str, *, cancel_requested: bool, system_error: bool) -> State:
    """The TES state of a job (docs/contracts.md §3's states and reasons): one to one, but
    `failed`, which is EXECUTOR_ERROR where an executor failed and SYSTEM_ERROR where the node,
    the launch or AICC's own steps (an input, an output: `system_error`) did."""
    if state in ("pending", "admitted"):
        return State.CANCELING if cancel_requested else State.QUEUED
    if state == "scheduled":
        return State.CANCELING if cancel_requested else State.INITIALIZING
    if state == "running":
        return State.CANCELING if cancel_requested else State.RUNNING
    if state == "preempted":
        return State.PREEMPTED
    if state == "succeeded":
        return State.COMPLETE
    if state == "cancelled":
        return State.CANCELED
    if state == "failed":
        if reason == "preempted":
            return State.PREEMPTED
        if reason in _EXECUTOR_REASONS and not system_error:
            return State.EXECUTOR_ERROR
        return State.SYSTEM_ERROR
    return State.UNKNOWN


def job_states(state: State) -> frozenset[str]:
    """The job states a TES state filter reads from (the answer's own state decides the rest)."""
    return {
        State.QUEUED: frozenset({"pending", "admitted"}),
        State.INITIALIZING: frozenset({"scheduled"}),
        State.RUNNING: frozenset({"running"}),
        State.CANCELING: frozenset({"pending", "admitted", "scheduled", "running"}),
        State.PREEMPTED: frozenset({"preempted", "failed"}),
        State.COMPLETE: frozenset({"succeeded"}),
        State.EXECUTOR_ERROR: frozenset({"failed"}),
        State.SYSTEM_ERROR: frozenset({"failed"}),
        State.CANCELED: frozenset({"cancelled"}),
    }.get(state, frozenset())


# --- the task document -------------------------------------------------------------------------

Text = Annotated[str, Field(max_length=MAX_TEXT)]
FileType = Literal["FILE", "DIRECTORY"]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TesInput(_Doc):
    """An input: inline `content`, an `http(s)://` URL fetched inside the job, or a data set
    file or folder, `aicc://NAME@VERSION/PATH`, mounted read-only."""

    name: Text | None = None
    description: Annotated[str | None, Field(max_length=MAX_DESCRIPTION)] = None
    url: Text | None = None
    path: Text
    type: FileType = "FILE"
    content: Annotated[str | None, Field(max_length=MAX_CONTENT)] = None
    streamable: bool | None = None


class TesOutput(_Doc):
    """An output: what the task leaves at `path` is kept in its job's outputs, at the place its
    `url` (`aicc://outputs/REL`) names."""

    name: Text | None = None
    description: Annotated[str | None, Field(max_length=MAX_DESCRIPTION)] = None
    url: Text
    path: Text
    path_prefix: Text | None = None
    type: FileType = "FILE"


class TesResources(_Doc):
    cpu_cores: Annotated[int | None, Field(ge=1, le=MAX_CPU_MILLI // 1000)] = None
    preemptible: bool | None = None
    ram_gb: Annotated[float | None, Field(gt=0, le=MAX_MEMORY_MIB / 1024, allow_inf_nan=False)] = (
        None
    )
    disk_gb: Annotated[float | None, Field(ge=0, le=1e9, allow_inf_nan=False)] = None
    zones: list[Text] | None = Field(default=None, max_length=16)
    backend_parameters: dict[Annotated[str, Field(max_length=128)], Text] | None = Field(
        default=None, max_length=64
    )
    backend_parameters_strict: bool | None = None


class TesExecutor(_Doc):
    image: Text
    command: list[Annotated[str, Field(max_length=32 * 1024)]] = Field(
        min_length=1, max_length=MAX_ARGS
    )
    workdir: Text | None = None
    stdin: Text | None = None
    stdout: Text | None = None
    stderr: Text | None = None
    env: dict[Annotated[str, Field(max_length=256)], Annotated[str, Field(max_length=16384)]] | (
        None
    ) = Field(default=None, max_length=MAX_ENV)
    ignore_error: bool | None = None


class TesTaskIn(_Doc):
    """The body of `POST /ga4gh/tes/v1/tasks`: a tesTask. The fields the server sets (`id`,
    `state`, `logs`, `creation_time`) may be sent back as a client read them; they are ignored."""

    name: Text | None = None
    description: Annotated[str | None, Field(max_length=MAX_DESCRIPTION)] = None
    inputs: list[TesInput] | None = Field(default=None, max_length=MAX_FILES)
    outputs: list[TesOutput] | None = Field(default=None, max_length=MAX_FILES)
    resources: TesResources | None = None
    executors: list[TesExecutor] = Field(min_length=1, max_length=MAX_EXECUTORS)
    volumes: list[Text] | None = Field(default=None, max_length=MAX_VOLUMES)
    tags: dict[Annotated[str, Field(max_length=128)], Annotated[str, Field(max_length=1024)]] | (
        None
    ) = Field(default=None, max_length=MAX_TAGS)
    id: Text | None = Field(default=None, description="ignored: the server assigns it")
    state: str | None = Field(default=None, max_length=32, description="ignored")
    logs: list[dict[str, Any]] | None = Field(default=None, max_length=16, description="ignored")
    creation_time: str | None = Field(default=None, max_length=64, description="ignored")

    @model_validator(mode="before")
    @classmethod
    def _sound(cls, data: Any) -> Any:
        """No NUL and no lone surrogate anywhere: neither can be a path, an argument or a
        file's UTF-8, and the runner script is a file."""
        _check_text(data, "task")
        return data


def _check_text(value: Any, where: str, depth: int = 0) -> None:
    if depth > 8:
        raise ValueError(f"{where}: nested too deeply")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{where}: a NUL character cannot be in a task")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{where}: not valid UTF-8 text (a lone surrogate)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, where, depth + 1)
            _check_text(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_text(item, f"{where}[{index}]", depth + 1)


# --- the translation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """An input from a data set: `ref` as the job spec's `datasets` takes it, `path` in it."""

    ref: str
    name: str
    path: str  # "" for the whole set


@dataclass(frozen=True)
class Plan:
    """What a task becomes: the job spec's fields, the files of its working directory (the
    runner and the inline contents), and what the task's logs say of what was not done as
    asked (`notes`, its system logs)."""

    images: tuple[str, ...]  # the executors' images AICC pulls (generic bases left out)
    fields: dict[str, Any]  # of the JobSpec: resources, priority, datasets, env...
    files: tuple[tuple[str, bytes], ...]
    project: str | None
    queue: str | None
    internet: bool  # an input is fetched over http(s): the job needs egress
    notes: tuple[str, ...] = field(default=())
    backend_parameters: dict[str, str] = field(default_factory=dict)  # the ones AICC read


def image_repository(image: str) -> str | None:
    """The Docker Hub repository an image names (`python:3.12-slim` -> `python`,
    `docker.io/library/debian` -> `debian`), or None for one of another registry."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        if parts[0] not in ("docker.io", "index.docker.io", "registry-1.docker.io"):
            return None
        parts = parts[1:]
    if parts and parts[0] == "library":
        parts = parts[1:]
    return "/".join(parts).lower() or None


def is_generic(image: str) -> bool:
    return image_repository(image) in GENERIC_IMAGES


def plan(task: TesTaskIn) -> Plan:
    """The job a task runs as; a `Refusal` names the field and what to send instead."""
    resources = task.resources or TesResources()
    params, notes = _backend_parameters(resources)
    fields: dict[str, Any] = {"resources": _resources(resources, params, notes)}
    if resources.preemptible:
        fields["priority"] = PRIORITIES["low"]
    if "aicc_priority" in params:
        fields["priority"] = _priority(params["aicc_priority"])
    if "aicc_max_runtime" in params:
        try:
            fields["max_runtime_s"] = parse_duration_s(params["aicc_max_runtime"])
        except ValueError as err:
            raise Refusal(f"resources.backend_parameters.aicc_max_runtime: {err}") from None
    queue = params.get("aicc_queue")
    if resources.zones:
        if len(resources.zones) > 1 or (queue and queue != resources.zones[0]):
            raise Refusal(
                "resources.zones: AICC reads one zone, the name of a queue of the project; "
                "give one zone or aicc_queue"
            )
        queue = resources.zones[0]
    if resources.disk_gb:
        notes.append(
            f"disk_gb ({resources.disk_gb:g}) is not reserved: AICC does not reserve disk per "
            "job; the task writes to its node's local disk"
        )
    images = []
    for i, executor in enumerate(task.executors):
        _check_executor(i, executor)
        if is_generic(executor.image):
            continue
        if executor.image not in images:
            images.append(executor.image)
    if len(images) > 1:
        raise Refusal(
            "executors: AICC runs a task's executors one after another in one job, in one "
            f"image; these name {len(images)} ({', '.join(images)}): give them the same image, "
            "or submit one task per image"
        )
    if not images and task.executors:
        shown = sorted({e.image for e in task.executors})
        notes.append(
            f"image {', '.join(shown)}: a generic base image, run in the job's sandbox on the "
            "node's own system (its shell, coreutils and Python), not pulled"
        )
    datasets: list[Dataset] = []
    internet = False
    contents = 0
    for i, item in enumerate(task.inputs or []):
        _check_abs(f"inputs[{i}].path", item.path)
        if item.content is not None:
            contents += len(item.content.encode())
            if item.type == "DIRECTORY":
                raise Refusal(f"inputs[{i}]: inline content is a FILE's, not a DIRECTORY's")
            continue
        if item.url is None:
            raise Refusal(f"inputs[{i}]: give url or content")
        source = input_source(f"inputs[{i}].url", item.url)
        if isinstance(source, Dataset):
            datasets.append(source)
        elif item.type == "DIRECTORY":
            raise Refusal(
                f"inputs[{i}]: a DIRECTORY cannot be fetched over http(s); use a data set"
            )
        else:
            internet = True
    if contents > MAX_CONTENTS:
        raise Refusal(
            f"inputs: {contents} bytes of inline content, more than the {MAX_CONTENTS} a task "
            "may carry; put the files in a data set and name them aicc://NAME@VERSION/PATH"
        )
    for i, out in enumerate(task.outputs or []):
        _check_abs(f"outputs[{i}].path", out.path)
        output_place(f"outputs[{i}].url", out.url)
        if _wild(out.path) and not out.path_prefix:
            raise Refusal(f"outputs[{i}]: a path with wildcards needs path_prefix")
    for i, volume in enumerate(task.volumes or []):
        _check_abs(f"volumes[{i}]", volume)
    fields["datasets"] = _mounts(datasets)
    files = [(f"{DIR}/run.sh", runner(task).encode())]
    files += [
        (f"{DIR}/inputs/{i}", item.content.encode())
        for i, item in enumerate(task.inputs or [])
        if item.content is not None
    ]
    return Plan(
        images=tuple(images),
        fields=fields,
        files=tuple(files),
        project=params.get("aicc_project"),
        queue=queue,
        internet=internet,
        notes=tuple(notes),
        backend_parameters=params,
    )


def _backend_parameters(resources: TesResources) -> tuple[dict[str, str], list[str]]:
    """The parameters AICC reads, by lower-case key; the others refused when strict, else
    left out (neither stored nor answered, as TES says) with a note."""
    known: dict[str, str] = {}
    unknown: list[str] = []
    for key, value in (resources.backend_parameters or {}).items():
        if key.lower() in BACKEND_PARAMETERS:
            known[key.lower()] = value
        else:
            unknown.append(key)
    notes = []
    if unknown:
        if resources.backend_parameters_strict:
            raise Refusal(
                f"resources.backend_parameters: {', '.join(sorted(unknown))} unknown to AICC, "
                f"and backend_parameters_strict is true; AICC reads {', '.join(BACKEND_PARAMETERS)}"
            )
        notes.append(f"backend_parameters ignored, unknown to AICC: {', '.join(sorted(unknown))}")
    return known, notes


def _resources(resources: TesResources, params: dict[str, str], notes: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if resources.cpu_cores:
        out["cpu_milli"] = resources.cpu_cores * 1000
    if resources.ram_gb:
        out["memory_mib"] = max(1, math.ceil(resources.ram_gb * 1024))  # GB read as GiB
    model, count = params.get("aicc_accelerator"), params.get("aicc_accelerators")
    if model is not None or count is not None:
        accelerator: dict[str, Any] = {"count": 1}
        if count is not None:
            if not (count.isascii() and count.isdigit()) or not 1 <= int(count) <= MAX_ACCELERATORS:
                raise Refusal(
                    "resources.backend_parameters.aicc_accelerators: a whole number from 1 to "
                    f"{MAX_ACCELERATORS}"
                )
            accelerator["count"] = int(count)
        if model is not None:
            try:
                accelerator["model"] = [accelerator_names.lookup(model).name]
            except KeyError as err:
                raise Refusal(
                    f"resources.backend_parameters.aicc_accelerator: {err.args[0]}"
                ) from None
        out["accelerator"] = accelerator
    return out


def _priority(value: str) -> int:
    if value.lower() in PRIORITIES:
        return PRIORITIES[value.lower()]
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or not -(2**31) <= number < 2**31:
        raise Refusal(
            "resources.backend_parameters.aicc_priority: low, normal, high or a 32-bit number"
        )
    return number


def _check_abs(where: str, path: str) -> None:
    parts = path.split("/")
    if not path.startswith("/") or ".." in parts or "\\" in path or "\n" in path:
        raise Refusal(f"{where}: an absolute path without '..' or newlines, such as /data/in.txt")
    if path.rstrip("/") in ("", "/proc", "/dev", "/sys") or parts[1] in ("proc", "dev", "sys"):
        raise Refusal(f"{where}: {path} is the system's; use a path such as /data/...")


def _check_executor(i: int, executor: TesExecutor) -> None:
    for name in ("workdir", "stdin", "stdout", "stderr"):
        value = getattr(executor, name)
        if value is not None:
            _check_abs(f"executors[{i}].{name}", value)
    for key in executor.env or {}:
        if not ENV_NAME.match(key):
            raise Refusal(f"executors[{i}].env: {key!r} is not a variable name")
        if key.startswith(RESERVED_ENV_PREFIXES) or key in RESERVED_ENV:
            raise Refusal(f"executors[{i}].env: {key} is set by AICC; use another name")


def input_source(where: str, url: str) -> Dataset | str:
    """Where an input comes from: a data set (`aicc://NAME@VERSION/PATH`), or an http(s) URL
    the job fetches; any other scheme is refused, saying what AICC reads."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme in ("http", "https"):
        if not re.match(r"^https?://[^/\s]+", url, re.IGNORECASE) or any(c in url for c in " \n"):
            raise Refusal(f"{where}: {url[:200]!r} is not an http(s) URL")
        return url
    if scheme == "aicc":
        return _dataset(where, url)
    what = {
        "s3": "s3:// names this center's own S3 objects alone (s3://PROJECT/DATASET/VERSION/PATH);"
        " for another store's, give an https:// URL of the object",
        "gs": "gs:// is not read: put the object in a data set or give an https:// URL of it",
        "file": "file:// names a file system AICC does not share with you: send the file as "
        "content, or put it in a data set",
    }.get(scheme, f"{scheme or 'a URL without a scheme'} is not read by AICC")
    raise Refusal(
        f"{where}: {what}; AICC reads content, http(s):// (fetched inside the job) and "
        "aicc://NAME@VERSION/PATH (a data set)"
    )


def _dataset(where: str, url: str) -> Dataset:
    rest = url[len("aicc://") :] if url.lower().startswith("aicc://") else ""
    at = rest.find("@")
    if at >= 0:
        slash = rest.find("/", at)
        ref, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash + 1 :])
    else:
        ref, _, path = rest.partition("/")
    try:
        parsed = parse_ref(ref)
        if path.strip("/"):
            check_path(path.strip("/"))
    except DatasetError as err:
        raise Refusal(
            f"{where}: {err}; write aicc://NAME@VERSION/PATH (or aicc://ORG/PROJECT/NAME@VERSION/PATH)"
        ) from None
    return Dataset(ref=str(parsed), name=parsed.name, path=path.strip("/"))


def output_place(where: str, url: str) -> str:
    """Where under `$AICC_OUTPUT_DIR` an output goes: the REL of `aicc://outputs/REL`."""
    if not url.lower().startswith(OUTPUTS_URL):
        raise Refusal(
            f"{where}: AICC keeps a task's outputs with its job (GET /api/v1/jobs/ID/outputs): "
            "give url aicc://outputs/NAME (a path under the job's outputs); other storage "
            "(s3://, file://, ...) is not written"
        )
    rel = url[len(OUTPUTS_URL) :].strip("/")
    try:
        check_path(rel)
    except DatasetError:
        raise Refusal(
            f"{where}: aicc://outputs/ takes a relative path without '..' or empty parts"
        ) from None
    if rel.split("/")[0] == LOGS:
        raise Refusal(f"{where}: {LOGS} is where AICC keeps the task's logs; choose another name")
    return rel


def _mounts(datasets: list[Dataset]) -> list[str]:
    """Each data set once; two versions of one name cannot both be at `$AICC_DATA_DIR/NAME`."""
    refs: dict[str, str] = {}
    for item in datasets:
        if refs.setdefault(item.name, item.ref) != item.ref:
            raise Refusal(
                f"inputs: data set {item.name} named as {refs[item.name]} and as {item.ref}; "
                "a task reads one version of a data set"
            )
    return list(refs.values())


def _wild(path: str) -> bool:
    return any(c in path for c in "*?[")


# --- the runner --------------------------------------------------------------------------------

_PRELUDE = r"""#!/bin/sh
# AICC's runner of a GA4GH TES task (aicc/core/tes.py): the inputs, the executors in order, the
# outputs. Generated by the server; what it runs is the task's own, inside the job's sandbox.
set -u
T="$(pwd)/aicc-tes"
L="$AICC_OUTPUT_DIR/.tes"
O="$AICC_OUTPUT_DIR"
mkdir -p "$L"
# a container's root may be read-only (0555) to its root user, who has no capabilities (and
# for whom `test -w` says yes anyway): as its owner it may still make it writable, for the
# task's paths (/data/...); the sandbox's root is the job user's already
chmod u+w / 2>/dev/null || true
now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
system_error() {
  printf 'aicc-tes: %s\n' "$1" >&2
  # what an executor may have put there (a FIFO, a link) is no place to write: a new file
  if [ -L "$L/system_error" ] || { [ -e "$L/system_error" ] && [ ! -f "$L/system_error" ]; }; then
    rm -rf "$L/system_error"
  fi
  printf '%s\n' "$1" >> "$L/system_error"
  exit 1
}
place() {
  mkdir -p "$(dirname "$1")" ||
    system_error "cannot make the folder of $1 (where / is not writable, use /tmp/...)"
}
fetch() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --proto =http,https --proto-redir =http,https --max-redirs 5 \
      --connect-timeout 30 -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -T 30 -O "$2" "$1"
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c 'import shutil, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=30) as r, open(sys.argv[2], "wb") as f:
    shutil.copyfileobj(r, f)' "$1" "$2"
  else
    echo "no curl, wget or python3 in this image to fetch with" >&2
    return 127
  fi
}
keep() {
  # keep(source, destination): a file or a folder into the job's outputs, links followed
  mkdir -p "$(dirname "$2")" && cp -RL "$1" "$2"
}
failed=0
code=0
"""


def runner(task: TesTaskIn) -> str:
    """The job's program: a POSIX shell script. Every word of the task in it is quoted
    (`shlex.quote`); a generated line never expands what a tenant wrote but a wildcard of an
    output's path, which is matched, not run."""
    q = shlex.quote
    lines = [_PRELUDE]
    lines.append("# volumes")
    for volume in task.volumes or []:
        lines.append(f"mkdir -p {q(volume)} || system_error {q(f'cannot make volume {volume}')}")
    lines.append("# inputs")
    for i, item in enumerate(task.inputs or []):
        path = item.path.rstrip("/") or "/"
        lines.append(f"place {q(path)}")
        if item.content is not None:
            why = f"input {i}: cannot write {path}"
            lines.append(f'cp "$T/inputs/{i}" {q(path)} || system_error {q(why)}')
            continue
        assert item.url is not None
        source = input_source(f"inputs[{i}].url", item.url)
        if isinstance(source, Dataset):
            where = (
                f'"$AICC_DATA_DIR/"{q(source.name + ("/" + source.path if source.path else ""))}'
            )
            why = f"input {i}: {source.ref} has no {source.path or 'files'}"
            lines.append(f"[ -e {where} ] || system_error {q(why)}")
            lines.append(f"rm -rf {q(path)}; ln -s {where} {q(path)}")
        else:
            why = f"input {i}: could not fetch {item.url} from inside the job"
            lines.append(f"fetch {q(item.url)} {q(path)} || system_error {q(why)}")
    for i, executor in enumerate(task.executors):
        lines.append(f"# executor {i}")
        lines.append('if [ "$failed" = 0 ]; then')
        lines.append(f'  echo "aicc-tes: executor {i}: {executor.image}" >&2')
        lines.append("  started=$(now)")
        inner = []
        if executor.workdir:
            inner.append(f"mkdir -p {q(executor.workdir)} && cd {q(executor.workdir)} || exit 126")
        for key, value in (executor.env or {}).items():
            inner.append(f"export {key}={q(value)}")
        stdin = q(executor.stdin) if executor.stdin else "/dev/null"
        inner.append(f"exec {shlex.join(executor.command)} < {stdin}")
        body = " && ".join(inner) if len(inner) > 1 else inner[0]
        lines.append(f'  ( {body} ) > "$L/{i}.stdout" 2> "$L/{i}.stderr"')
        lines.append("  rc=$?")
        lines.append(f'  cat "$L/{i}.stdout"; cat "$L/{i}.stderr" >&2')
        for name in ("stdout", "stderr"):
            target = getattr(executor, name)
            if target:
                lines.append(f'  place {q(target)}; cp "$L/{i}.{name}" {q(target)}')
        lines.append(
            f'  printf \'{{"start_time": "%s", "end_time": "%s", "exit_code": %d}}\\n\' '
            f'"$started" "$(now)" "$rc" > "$L/{i}.json"'
        )
        if not executor.ignore_error:
            lines.append('  if [ "$rc" != 0 ]; then failed=1; code=$rc; fi')
        lines.append("fi")
    lines.append("# outputs")
    for i, out in enumerate(task.outputs or []):
        rel = output_place(f"outputs[{i}].url", out.url)
        dest = f'"$O/"{q(rel)}'
        if _wild(out.path):
            prefix = (out.path_prefix or "").rstrip("/") + "/"
            lines.append(f"pattern={q(out.path)}; prefix={q(prefix)}")
            lines.append("oldifs=$IFS; IFS=''")
            lines.append("for f in $pattern; do")
            lines.append('  [ -e "$f" ] || continue')
            lines.append(f'  keep "$f" {dest}/"${{f#"$prefix"}}"')
            lines.append("done; IFS=$oldifs")
            continue
        missing = f"output {i}: {out.path} is not there"
        lines.append(
            f"if [ -e {q(out.path)} ]; then keep {q(out.path)} {dest}; "
            f'elif [ "$failed" = 0 ]; then system_error {q(missing)}; fi'
        )
    lines.append('exit "$code"')
    return "\n".join(lines) + "\n"
