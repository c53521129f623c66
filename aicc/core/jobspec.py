"""The job spec of docs/contracts.md §2, as a pydantic model: YAML, JSON, the API and the SDK
share it.

Input accepts what people write (`cpu: 2`, `memory: 8GiB`, `max_runtime: 2h`); the model stores the
integer units (`cpu_milli`, `memory_mib`, seconds), which is what the API returns. The JSON Schema
in docs/ is generated from this model (`aicc spec schema`).

It is the one validation of a job: the API, the CLI, the portal and the scheduler's snapshot all
read a spec through it, so whatever the API accepts the scheduler can hold. Every field is bounded
(the limits below, documented in docs/job-spec.md); NaN, infinities, lone surrogates and NUL
characters are refused anywhere in the input, with a 422 whose body can always be serialized.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from aicc.core import accelerator_names, catalog
from aicc.core.mistakes import InputError, Mistake, all_at_once
from aicc.core.spec_guard import input_problems
from aicc.core.text import LINE
from aicc.core.units import (
    parse_duration_s,
    parse_memory_mib,
    parse_share_milli,
    to_stored_units,
)

M = TypeVar("M")
NAME_PATTERN = r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PRIORITIES = {"low": 0, "normal": 100, "high": 1000}
RESERVED_ENV_PREFIXES = ("AICC_",)
# A job without an image runs with the site environment this label names (the operator's
# `site_environments`; executors/siteenv.py); a TES task on a generic base gets it at create.
ENVIRONMENT_LABEL = "aicc.io/environment"
RESERVED_ENV = frozenset(
    {"WORLD_SIZE", "RANK", "LOCAL_RANK", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT", "PORT"}
)

# Limits (docs/job-spec.md). Sizes are characters: a stored spec stays near MAX_SPEC_CHARS at most
# (spec_guard.py), so a page of jobs stays small, and a replica's command line and environment fit
# the kernel's limits (128 KiB per string, 2 MiB in all).
MAX_COMMAND_CHARS = 32 * 1024  # a string command, or all of a list's items together
MAX_COMMAND_ARGS = 4096
MAX_ENV_VARS = 512
MAX_ENV_NAME_CHARS = 256
MAX_ENV_VALUE_CHARS = 16 * 1024
MAX_ENV_CHARS = 32 * 1024  # every name and value together
MAX_LABELS = 64
MAX_LABEL_KEY_CHARS = 128
MAX_LABEL_VALUE_CHARS = 1024
MAX_SECRETS = 64
MAX_DATASETS = 64
MAX_MODELS = 32
MAX_REF_CHARS = 128  # project, queue, secret, model and MIG profile names
MAX_PATH_CHARS = 4096  # workdir, checkpoint_dir, a dataset
MAX_IMAGE_CHARS = 1024
MAX_CPU_MILLI = 1_024_000
MAX_MEMORY_MIB = 16 * 1024 * 1024  # 16 TiB, per replica and per device
MAX_ACCELERATORS = 64
MAX_REPLICAS = 1024
# a center's default bound on one job's replicas (`limits.max_replicas_per_job`, issue 35)
DEFAULT_MAX_REPLICAS = 256
MAX_RETRIES = 100
MIN_PRIORITY = -(2**31)  # the job table's 32-bit integer column
MAX_PRIORITY = 2**31 - 1
MAX_RUNTIME_S = 366 * 86400  # a year: what the scheduler's time arithmetic is built for


Ref = Annotated[str, Field(max_length=MAX_REF_CHARS)]
PathText = Annotated[str, Field(max_length=MAX_PATH_CHARS)]
EnvName = Annotated[str, Field(max_length=MAX_ENV_NAME_CHARS)]
EnvValue = Annotated[str, Field(max_length=MAX_ENV_VALUE_CHARS)]
# shown in tables and pages as they are: one clean line each (core/text.py)
LabelKey = Annotated[str, Field(max_length=MAX_LABEL_KEY_CHARS), LINE]
LabelValue = Annotated[str, Field(max_length=MAX_LABEL_VALUE_CHARS), LINE]


class JobKind(StrEnum):
    TRAIN = "train"
    INFER = "infer"
    NOTEBOOK = "notebook"
    SERVICE = "service"
    BUILD = "build"


# Kinds whose feature has landed; the API answers 422 for the others (docs/contracts.md §2).
SUPPORTED_KINDS = frozenset(
    {JobKind.TRAIN, JobKind.INFER, JobKind.SERVICE, JobKind.NOTEBOOK, JobKind.BUILD}
)
# Kinds that listen: each replica gets a fresh `$PORT` on its node, and is reached there.
LISTENING_KINDS = frozenset({JobKind.SERVICE, JobKind.NOTEBOOK})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# What a build job runs: its executor's build (podman build, then push), never a user's
# command; filled in for `kind: build`, so a stored build spec reads like any other.
BUILD_COMMAND = ["aicc-build"]
CONTAINERFILE = re.compile(r"[A-Za-z0-9._-][A-Za-z0-9._/-]{0,254}")


class BuildSpec(_Strict):
    """`kind: build`: the image to push and the Containerfile (in the workdir) that makes it.
    The server fills `target` (the full reference pushed) and `from_images` (what each `FROM`
    or `--from` as written runs, resolved and checked at submit)."""

    image: Annotated[str, Field(max_length=MAX_IMAGE_CHARS)] = Field(
        description="NAME[:TAG] in the job's project, or ORG/PROJECT/NAME[:TAG]"
    )
    containerfile: Annotated[str, Field(max_length=256)] = Field(
        default="Containerfile", description="a path inside the workdir"
    )
    target: Annotated[str | None, Field(max_length=MAX_IMAGE_CHARS)] = None
    from_images: dict[
        Annotated[str, Field(max_length=MAX_IMAGE_CHARS)],
        Annotated[str, Field(max_length=MAX_IMAGE_CHARS)],
    ] = Field(default_factory=dict, max_length=32)

    @field_validator("containerfile")
    @classmethod
    def _inside(cls, value: str) -> str:
        parts = value.split("/")
        if not CONTAINERFILE.fullmatch(value) or any(p in ("", ".", "..") for p in parts):
            raise InputError(
                "build.containerfile must be a relative path inside the workdir, such as "
                "Containerfile or docker/Dockerfile"
            )
        return value


class AcceleratorRequest(_Strict):
    """Whole devices (`count`), a share of one device (`milli` with optional device `memory`),
    or one MIG slice of a partitioned GPU (`mig`, a fixed catalog profile such as `1g.10gb`)."""

    count: Annotated[int, Field(ge=0, le=MAX_ACCELERATORS)] = 0
    milli: Annotated[int | None, Field(ge=1, le=1000)] = None
    models: list[Ref] | None = Field(
        default=None,
        alias="model",
        max_length=MAX_MODELS,
        description="acceptable accelerator models; null = any",
    )
    memory_mib: Annotated[int | None, Field(ge=1, le=MAX_MEMORY_MIB)] = None
    mig: Ref | None = Field(default=None, description="one MIG slice of this profile, e.g. 1g.10gb")

    @model_validator(mode="wrap")
    @classmethod
    def _people_units(cls, data: Any, handler: Callable[[Any], AcceleratorRequest]) -> Any:
        mistakes: list[Mistake] = []
        rules = {"memory": ("memory_mib", parse_memory_mib)}
        if isinstance(data, dict) and data.get("milli") is not None:
            rules["milli"] = ("milli", parse_share_milli)
        rules["share"] = ("milli", parse_share_milli)  # after `milli`: a share given wins
        data = to_stored_units(data, rules, mistakes)
        if isinstance(data, dict):
            klass = data.pop("class", None)
            if klass not in (None, "any"):
                why = InputError("accelerator class must be 'any' (or name models with `model`)")
                mistakes.append(("class", klass, why))
            if isinstance(data.get("model"), str):
                data["model"] = [data["model"]]
            if isinstance(data.get("mig"), str):
                data["mig"] = data["mig"].strip().lower()
        return all_at_once(cls.__name__, data, mistakes, handler)

    @field_validator("models")
    @classmethod
    def _known_models(cls, value: list[str] | None) -> list[str] | None:
        """Aliases become catalog names ("H100" -> "H100-SXM"); unknown names are refused with
        the close matches, since a typo would otherwise wait for a device that never comes."""
        if value is None:
            return None
        try:
            return list(dict.fromkeys(accelerator_names.lookup(name).name for name in value))
        except KeyError as err:
            raise ValueError(str(err.args[0])) from None

    @model_validator(mode="after")
    def _count_or_share(self) -> AcceleratorRequest:
        if self.mig is not None:
            return self._one_mig_slice(self.mig)
        if self.milli is not None and self.count not in (0, 1):
            raise InputError("ask for either `count` whole devices or a `milli` share of one")
        if self.milli is not None:
            self.count = 1
        return self

    def _one_mig_slice(self, profile: str) -> AcceleratorRequest:
        """A slice has fixed compute and memory, one per replica, on a model that offers the
        profile. Without `model`, the models are narrowed to those that offer it, so the job
        never waits for a device that cannot be cut that way."""
        if self.milli is not None or self.memory_mib is not None:
            raise InputError(
                "a MIG slice has its own compute and memory: leave out `milli` and `memory`"
            )
        if self.count not in (0, 1):
            raise InputError(
                "`mig` is one slice per replica: leave out `count` (or write 1) and ask for "
                "more `replicas`"
            )
        if self.models is not None:
            for name in self.models:
                catalog.check_mig_profile(accelerator_names.lookup(name), profile)
        else:
            offering = catalog.mig_models(profile)
            if not offering:
                known = {p for m in catalog.CATALOG.values() for p in m.mig_profiles}
                raise ValueError(
                    f"no accelerator model offers MIG profile {profile!r}; profiles: "
                    + ", ".join(sorted(known, key=_profile_order))
                )
            self.models = [m.name for m in offering]
        self.count = 1
        return self

    @property
    def total_milli(self) -> int:
        """Accelerator capacity per replica: 1000 per whole device, the share, or the slice's."""
        if self.mig is not None:
            return catalog.mig_milli(self.mig)
        return self.milli if self.milli is not None else self.count * 1000

    @property
    def fractional(self) -> bool:
        return self.milli is not None and self.milli < 1000


def _profile_order(profile: str) -> tuple[int, int]:
    """`1g.10gb` before `2g.20gb` before `7g.80gb`."""
    compute, _, memory = profile.partition("g.")
    return int(compute), int(memory.removesuffix("gb"))


class Resources(_Strict):
    """Per replica."""

    cpu_milli: Annotated[int, Field(ge=1, le=MAX_CPU_MILLI)] = 1000
    memory_mib: Annotated[int, Field(ge=1, le=MAX_MEMORY_MIB)] = 2048
    accelerator: AcceleratorRequest = Field(default_factory=AcceleratorRequest)

    @model_validator(mode="wrap")
    @classmethod
    def _people_units(cls, data: Any, handler: Callable[[Any], Resources]) -> Any:
        mistakes: list[Mistake] = []
        data = to_stored_units(data, mistakes=mistakes)
        if isinstance(data, dict):
            for key in ("gpu", "gpus"):
                if key in data:
                    data["accelerator"] = {"count": data.pop(key)}
        return all_at_once(cls.__name__, data, mistakes, handler)


# The refusals of a deferrable job's window (`deferrable`, `deadline`), as templates with their
# values: pydantic fills them in, and the portal says them in its reader's language
# (errors.zh-CN.json; portal/submitting.py finds the template again).
WINDOW_TWICE = "give the deadline once: a time or a duration after submit"
WINDOW_NO_RUNTIME = (
    "a deferrable job needs max_runtime (how long it runs), so that it can be placed before "
    "its deadline"
)
WINDOW_NO_DEADLINE = (
    "a deferrable job needs a deadline (a time, or a duration after submit such as 24h) that "
    "bounds how long it may wait"
)
WINDOW_TOO_SHORT = "{after} s after submit is shorter than max_runtime ({runtime} s)"
BUILD_NEEDS = "kind: build needs build.image (NAME[:TAG]) and build.containerfile"
BUILD_ONLY = "build is for kind: build only"
BUILD_NO_COMMAND = "a build runs its Containerfile: leave command out"
BUILD_NO_CONTEXT = "a build needs a workdir: the context its Containerfile reads"
BUILD_NO_IMAGE = "a build names its base images in its Containerfile's FROM, not in image"
BUILD_ONE = "a build runs as one replica"
BUILD_NO_ACCELERATOR = "a build uses no accelerator"
BUILD_TEMPLATES = (
    BUILD_NEEDS,
    BUILD_ONLY,
    BUILD_NO_COMMAND,
    BUILD_NO_CONTEXT,
    BUILD_NO_IMAGE,
    BUILD_ONE,
    BUILD_NO_ACCELERATOR,
)
WINDOW_TEMPLATES = (WINDOW_TWICE, WINDOW_NO_RUNTIME, WINDOW_NO_DEADLINE, WINDOW_TOO_SHORT)


_COUNT = {"type": "integer", "minimum": 1, "maximum": MAX_REPLICAS}
# what `replicas` takes: a count, or an elastic job's bounds (stored as `replicas` and
# `replicas_max`, so a stored spec always has the count)
_REPLICAS = {
    "anyOf": [
        _COUNT,
        {
            "type": "object",
            "properties": {"min": _COUNT, "max": _COUNT},
            "required": ["min", "max"],
            "additionalProperties": False,
        },
    ]
}


class JobSpec(_Strict):
    """What a tenant asks for. `command` is the only required field."""

    name: Annotated[str | None, Field(pattern=NAME_PATTERN)] = None
    project: Ref | None = None
    queue: Ref | None = None
    kind: JobKind = JobKind.TRAIN
    command: str | list[str] = Field(
        description=f"at most {MAX_COMMAND_CHARS} characters; a list, at most "
        f"{MAX_COMMAND_ARGS} items"
    )
    workdir: PathText | None = Field(
        default=None, description="a local path for the CLI to pack; the server keeps a digest"
    )
    workdir_sha256: Annotated[str | None, Field(pattern=r"^[0-9a-f]{64}$")] = None
    image: Annotated[str | None, Field(max_length=MAX_IMAGE_CHARS)] = None
    build: BuildSpec | None = Field(default=None, description="kind: build only")
    env: dict[EnvName, EnvValue] = Field(default_factory=dict, max_length=MAX_ENV_VARS)
    secrets: list[Ref] = Field(default_factory=list, max_length=MAX_SECRETS)
    replicas: Annotated[int, Field(ge=1, le=MAX_REPLICAS), WithJsonSchema(_REPLICAS)] = Field(
        default=1,
        description="how many replicas (a gang, started whole); or, for training, `{min, max}`: "
        "an elastic job that starts with min and grows into idle capacity up to max "
        "(stored as `replicas: min` and `replicas_max: max`)",
    )
    replicas_max: Annotated[int | None, Field(ge=1, le=MAX_REPLICAS)] = Field(
        default=None,
        description="an elastic training job's most replicas (docs/job-spec.md#elastic-jobs)",
    )
    topology: Literal["rack", "pool"] | None = Field(
        default=None,
        description="keep the gang in one network-topology domain: `rack` (the nodes' rack "
        "label) or `pool`; it starts only where one such domain has room for all its replicas "
        "(absent: the scheduler prefers one rack, then one pool, but may spread)",
    )
    resources: Resources = Field(default_factory=Resources)
    priority: Annotated[int, Field(ge=MIN_PRIORITY, le=MAX_PRIORITY)] = PRIORITIES["normal"]
    max_runtime_s: Annotated[int | None, Field(ge=1, le=MAX_RUNTIME_S)] = None
    max_retries: Annotated[int, Field(ge=0, le=MAX_RETRIES)] = 0
    checkpoint_dir: PathText | None = None
    datasets: list[PathText] = Field(default_factory=list, max_length=MAX_DATASETS)
    scenario: dict[str, Any] | None = None
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=MAX_LABELS)
    placement: Literal["local", "federation"] | None = Field(
        default=None,
        description="local: run at this site; federation: routed among the federation's sites "
        "(docs/federation.md); absent: the center's federation.default_placement",
    )
    egress: Literal["none", "internet"] | None = Field(
        default=None,
        description="what the job reaches beyond its own network namespace: nothing, or the "
        "internet (never the machine's loopback: docs/job-spec.md); absent: the center's "
        "`egress`, filled in when the job is accepted",
    )
    deferrable: bool = Field(
        default=False,
        description="the job may wait for greener or cheaper power, up to its deadline",
    )
    deadline: datetime | None = Field(
        default=None,
        description="RFC 3339 time (UTC when stored) by which the job should have finished; "
        "in YAML also a duration after submit (`12h`), made absolute when it is accepted",
    )
    deadline_after_s: Annotated[int | None, Field(ge=1, le=MAX_RUNTIME_S)] = Field(
        default=None,
        description="the deadline as seconds after submit; the server stores `deadline` instead",
    )

    @model_validator(mode="wrap")
    @classmethod
    def _people_units(cls, data: Any, handler: Callable[[Any], JobSpec]) -> Any:
        """A mistake in people's units is reported with the fields' own, not instead of them.
        Defined before `_sound_input`, so it runs inside it (the last is the outermost)."""
        mistakes: list[Mistake] = []
        if isinstance(data, dict):
            data = dict(data)
            if data.get("max_runtime", 0) is None:
                data["max_runtime_s"] = data.pop("max_runtime")
            if _is_duration(data.get("deadline")):
                data = to_stored_units(
                    data, {"deadline": ("deadline_after_s", parse_duration_s)}, mistakes
                )
            data = to_stored_units(
                data, {"max_runtime": ("max_runtime_s", parse_duration_s)}, mistakes
            )
            if isinstance(data.get("replicas"), dict) or data.get("replicas_max") is not None:
                data = _elastic(data, mistakes)
            if data.get("kind") == JobKind.BUILD.value and data.get("command") is None:
                data["command"] = list(BUILD_COMMAND)
            priority = data.get("priority")
            if isinstance(priority, str):
                if priority in PRIORITIES:
                    data["priority"] = PRIORITIES[priority]
                else:
                    why = InputError(
                        "priority must be one of {words} or an integer", words=", ".join(PRIORITIES)
                    )
                    mistakes.append(("priority", data.pop("priority"), why))
        return all_at_once(cls.__name__, data, mistakes, handler)

    @model_validator(mode="wrap")
    @classmethod
    def _sound_input(cls, data: Any, handler: Callable[[Any], JobSpec]) -> JobSpec:
        """Refuse what no field should hold before any field reads it: the errors name the
        place and carry a printable input, so the 422 always serializes (a NaN or a lone
        surrogate in the answer would make it a 500)."""
        problems = input_problems(data)
        if problems:
            raise ValidationError.from_exception_data(cls.__name__, problems)
        return handler(data)

    @field_validator("command")
    @classmethod
    def _command_not_empty(cls, value: str | list[str]) -> str | list[str]:
        if (isinstance(value, str) and not value.strip()) or (
            isinstance(value, list) and (not value or not all(value))
        ):
            raise InputError("command must not be empty")
        if isinstance(value, list) and len(value) > MAX_COMMAND_ARGS:
            raise InputError("command must be a list of at most {n} items", n=MAX_COMMAND_ARGS)
        size = sum(map(len, value)) if isinstance(value, list) else len(value)
        if size > MAX_COMMAND_CHARS:
            raise InputError("command must hold at most {n} characters", n=MAX_COMMAND_CHARS)
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not ENV_NAME.match(key):
                raise InputError("environment variable name {key!r} is not valid", key=key)
            if key.startswith(RESERVED_ENV_PREFIXES) or key in RESERVED_ENV:
                raise InputError(
                    "environment variable {key} is set by AICC and cannot be given", key=key
                )
        if sum(len(k) + len(v) for k, v in value.items()) > MAX_ENV_CHARS:
            raise InputError("env must hold at most {n} characters in all", n=MAX_ENV_CHARS)
        return value

    @field_validator("kind")
    @classmethod
    def _kind_available(cls, value: JobKind) -> JobKind:
        if value not in SUPPORTED_KINDS:
            raise InputError("kind {kind} is not available yet; use train or infer", kind=value)
        return value

    @field_validator("deadline")
    @classmethod
    def _deadline_in_utc(cls, value: datetime | None) -> datetime | None:
        """Stored in UTC (docs/contracts.md §1); a time without an offset is refused rather than
        guessed, since a deadline read in the wrong zone is hours off."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise InputError(
                "deadline needs a time zone: write 2026-11-26T06:00:00Z or +08:00, "
                "or a duration after submit such as 12h"
            )
        return value.astimezone(UTC)

    @model_validator(mode="wrap")
    @classmethod
    def _deferrable_needs_a_window(cls, data: Any, handler: Callable[[Any], JobSpec]) -> JobSpec:
        """A deferrable job is placed in time by the green planner, which must know how long it
        runs (its declared `max_runtime`, already enforced) and by when it must be done. The
        outermost validator, so the errors name their field (`deferrable`, `deadline`)."""
        spec = handler(data)
        problem = spec._window_problem() or spec._build_problem()
        if problem is not None:
            where, template, params, value = problem
            kind = "build" if template in BUILD_TEMPLATES else "deferrable"
            error = PydanticCustomError(kind, template, params)
            raise ValidationError.from_exception_data(
                cls.__name__, [InitErrorDetails(type=error, loc=(where,), input=value)]
            )
        return spec

    def _window_problem(self) -> tuple[str, str, dict[str, Any], Any] | None:
        if self.deadline is not None and self.deadline_after_s is not None:
            return "deadline", WINDOW_TWICE, {}, None
        if self.deferrable and self.max_runtime_s is None:
            return "deferrable", WINDOW_NO_RUNTIME, {}, True
        if self.deferrable and self.deadline is None and self.deadline_after_s is None:
            return "deferrable", WINDOW_NO_DEADLINE, {}, True
        after, runtime = self.deadline_after_s, self.max_runtime_s
        if after is not None and runtime is not None and after < runtime:
            return "deadline", WINDOW_TOO_SHORT, {"after": after, "runtime": runtime}, after
        return None

    def _build_problem(self) -> tuple[str, str, dict[str, Any], Any] | None:
        """A build has a `build` and a context; it runs no command of its own, in no image, on
        no accelerator, as one replica. Only a build has a `build`."""
        if self.kind != JobKind.BUILD:
            return None if self.build is None else ("build", BUILD_ONLY, {}, None)
        if self.build is None:
            return "build", BUILD_NEEDS, {}, None
        if self.command != BUILD_COMMAND:
            return "command", BUILD_NO_COMMAND, {}, None
        if self.workdir is None and self.workdir_sha256 is None:
            return "workdir", BUILD_NO_CONTEXT, {}, None
        if self.image is not None:
            return "image", BUILD_NO_IMAGE, {}, None
        if self.replicas != 1:
            return "replicas", BUILD_ONE, {}, self.replicas
        accelerator = self.resources.accelerator
        if accelerator.count or accelerator.milli or accelerator.mig:
            return "resources", BUILD_NO_ACCELERATOR, {}, None
        return None

    @property
    def elastic(self) -> tuple[int, int] | None:
        """(min, max) of an elastic job, else None."""
        if self.replicas_max is None or self.replicas_max <= self.replicas:
            return None
        return self.replicas, self.replicas_max

    def resolve_deadline(self, submitted: datetime) -> datetime | None:
        """The absolute deadline of a job submitted at `submitted` (aware), or None."""
        if self.deadline_after_s is not None:
            return submitted.astimezone(UTC) + timedelta(seconds=self.deadline_after_s)
        return self.deadline

    def argv(self) -> list[str]:
        """The process to exec: a string runs under /bin/sh -c, a list is exec'd as is."""
        return ["/bin/sh", "-c", self.command] if isinstance(self.command, str) else self.command


def _elastic(data: dict[str, Any], mistakes: list[Mistake]) -> dict[str, Any]:
    """`replicas: {min, max}` as `replicas` and `replicas_max`, for a training job whose max is
    at least its min (a max equal to its min is a fixed gang, stored as one)."""
    bounds = data.pop("replicas", None)
    if isinstance(bounds, dict):
        least, most = bounds.get("min"), bounds.get("max")
        if set(bounds) != {"min", "max"} or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in (least, most)
        ):
            why = InputError("replicas must be a whole number, or min and max as whole numbers")
            mistakes.append(("replicas", bounds, why))
            return data
    else:
        least, most = 1 if bounds is None else bounds, data.get("replicas_max")
    data.pop("replicas_max", None)
    kind = data.get("kind", JobKind.TRAIN.value)
    if not isinstance(least, int) or not isinstance(most, int):
        data["replicas"] = least  # the fields' own validation says what is wrong
        data["replicas_max"] = most
    elif kind != JobKind.TRAIN.value:
        why = InputError(
            "only training jobs can be elastic: a {kind} job has a fixed number of replicas",
            kind=kind,
        )
        mistakes.append(("replicas", bounds if bounds is not None else most, why))
    elif most < least:
        why = InputError(
            "replicas: max ({most}) must be at least min ({least})", most=most, least=least
        )
        mistakes.append(("replicas", bounds if bounds is not None else most, why))
    else:
        data["replicas"] = least
        if most > least:
            data["replicas_max"] = most
    return data


def _is_duration(value: Any) -> bool:
    """`12h`, `1h30m`, `3600` (seconds): a deadline after submit; a time has `-` and `:`."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return True
    return isinstance(value, str) and not any(c in value for c in "-:")


def stored_int(spec: dict[str, Any], field: str) -> int | None:
    """An integer field of a spec as stored, read without the model: a job placed by an older
    server may hold a spec that today's limits refuse, and it must still be metered, end and
    requeue normally (the scheduler quarantines such a job only while it waits)."""
    value = spec.get(field)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def default_name(command: str | list[str], suffix: str) -> str:
    """A job's name when it gives none: the command's program in letters, digits and dashes,
    then `suffix` (`./train.py` -> `train-py-q2m4xz`, `./训练.sh` -> `sh-q2m4xz`, `job-...`
    when nothing is left). Always matches NAME_PATTERN, whatever script the command is in."""
    words = command.split() if isinstance(command, str) else command
    program = words[0].rsplit("/", 1)[-1] if words else ""
    head = re.sub(r"[^a-z0-9]+", "-", program.lower())[:40].strip("-")
    return f"{head or 'job'}-{suffix}"


def job_spec_schema() -> dict[str, Any]:
    """JSON Schema of the spec as stored (integer units), for editors and docs/job-spec.md."""
    return JobSpec.model_json_schema(mode="validation")


def again(stored: dict[str, Any], project_id: str) -> JobSpec:
    """The spec a job is run again (or cloned) from: its stored spec, in its own project (not
    the default one of whoever runs it again). A deployment's or notebook's replicas are its
    to start: InputError."""
    spec = JobSpec.model_validate(stored)
    if spec.kind in LISTENING_KINDS:
        raise InputError(
            "a {kind} job is started by its deployment or notebook: restart that instead",
            kind=spec.kind.value,
        )
    return spec.model_copy(update={"project": project_id})
