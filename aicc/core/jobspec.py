"""The job spec of CONTRACTS.md §2, as a pydantic model: YAML, JSON, the API and the SDK share it.

Input accepts what people write (`cpu: 2`, `memory: 8GiB`, `max_runtime: 2h`); the model stores the
integer units (`cpu_milli`, `memory_mib`, seconds), which is what the API returns. The JSON Schema
in docs/ is generated from this model (`aicc spec schema`).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aicc.core import catalog
from aicc.core.units import (
    parse_duration_s,
    parse_memory_mib,
    parse_share_milli,
    to_stored_units,
)

NAME_PATTERN = r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PRIORITIES = {"low": 0, "normal": 100, "high": 1000}
RESERVED_ENV_PREFIXES = ("AICC_",)
RESERVED_ENV = frozenset(
    {"WORLD_SIZE", "RANK", "LOCAL_RANK", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT"}
)


class JobKind(StrEnum):
    TRAIN = "train"
    INFER = "infer"
    NOTEBOOK = "notebook"
    SERVICE = "service"


# Kinds whose feature has landed; the API answers 422 for the others (CONTRACTS.md §2).
SUPPORTED_KINDS = frozenset({JobKind.TRAIN, JobKind.INFER})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class AcceleratorRequest(_Strict):
    """Whole devices (`count`), a share of one device (`milli` with optional device `memory`),
    or one MIG slice of a partitioned GPU (`mig`, a fixed catalog profile such as `1g.10gb`)."""

    count: Annotated[int, Field(ge=0, le=64)] = 0
    milli: Annotated[int | None, Field(ge=1, le=1000)] = None
    models: list[str] | None = Field(
        default=None, alias="model", description="acceptable accelerator models; null = any"
    )
    memory_mib: Annotated[int | None, Field(ge=1)] = None
    mig: str | None = Field(default=None, description="one MIG slice of this profile, e.g. 1g.10gb")

    @model_validator(mode="before")
    @classmethod
    def _people_units(cls, data: Any) -> Any:
        data = to_stored_units(data, {"memory": ("memory_mib", parse_memory_mib)})
        if not isinstance(data, dict):
            return data
        if "milli" in data and data["milli"] is not None:
            data["milli"] = parse_share_milli(data["milli"])
        if "share" in data:
            data["milli"] = parse_share_milli(data.pop("share"))
        klass = data.pop("class", None)
        if klass not in (None, "any"):
            raise ValueError("accelerator class must be 'any' (or name models with `model`)")
        if isinstance(data.get("model"), str):
            data["model"] = [data["model"]]
        if isinstance(data.get("mig"), str):
            data["mig"] = data["mig"].strip().lower()
        return data

    @field_validator("models")
    @classmethod
    def _known_models(cls, value: list[str] | None) -> list[str] | None:
        """Aliases become catalog names ("H100" -> "H100-SXM"); unknown names are refused with
        the close matches, since a typo would otherwise wait for a device that never comes."""
        if value is None:
            return None
        try:
            return list(dict.fromkeys(catalog.lookup(name).name for name in value))
        except KeyError as err:
            raise ValueError(str(err.args[0])) from None

    @model_validator(mode="after")
    def _count_or_share(self) -> AcceleratorRequest:
        if self.mig is not None:
            return self._one_mig_slice(self.mig)
        if self.milli is not None and self.count not in (0, 1):
            raise ValueError("ask for either `count` whole devices or a `milli` share of one")
        if self.milli is not None:
            self.count = 1
        return self

    def _one_mig_slice(self, profile: str) -> AcceleratorRequest:
        """A slice has fixed compute and memory, one per replica, on a model that offers the
        profile. Without `model`, the models are narrowed to those that offer it, so the job
        never waits for a device that cannot be cut that way."""
        if self.milli is not None or self.memory_mib is not None:
            raise ValueError(
                "a MIG slice has its own compute and memory: leave out `milli` and `memory`"
            )
        if self.count not in (0, 1):
            raise ValueError(
                "`mig` is one slice per replica: leave out `count` (or write 1) and ask for "
                "more `replicas`"
            )
        if self.models is not None:
            for name in self.models:
                catalog.check_mig_profile(catalog.lookup(name), profile)
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

    cpu_milli: Annotated[int, Field(ge=1, le=1_024_000)] = 1000
    memory_mib: Annotated[int, Field(ge=1, le=16 * 1024 * 1024)] = 2048
    accelerator: AcceleratorRequest = Field(default_factory=AcceleratorRequest)

    @model_validator(mode="before")
    @classmethod
    def _people_units(cls, data: Any) -> Any:
        data = to_stored_units(data)
        if not isinstance(data, dict):
            return data
        for key in ("gpu", "gpus"):
            if key in data:
                data["accelerator"] = {"count": data.pop(key)}
        return data


class JobSpec(_Strict):
    """What a tenant asks for. `command` is the only required field."""

    name: Annotated[str | None, Field(pattern=NAME_PATTERN)] = None
    project: str | None = None
    queue: str | None = None
    kind: JobKind = JobKind.TRAIN
    command: str | list[str]
    workdir: str | None = Field(
        default=None, description="a local path for the CLI to pack; the server keeps a digest"
    )
    workdir_sha256: Annotated[str | None, Field(pattern=r"^[0-9a-f]{64}$")] = None
    image: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    secrets: list[str] = Field(default_factory=list)
    replicas: Annotated[int, Field(ge=1, le=1024)] = 1
    resources: Resources = Field(default_factory=Resources)
    priority: int = PRIORITIES["normal"]
    max_runtime_s: Annotated[int | None, Field(ge=1)] = None
    max_retries: Annotated[int, Field(ge=0, le=100)] = 0
    checkpoint_dir: str | None = None
    datasets: list[str] = Field(default_factory=list)
    scenario: dict[str, Any] | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _people_units(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "max_runtime" in data:
            raw = data.pop("max_runtime")
            data["max_runtime_s"] = None if raw is None else parse_duration_s(raw)
        priority = data.get("priority")
        if isinstance(priority, str):
            if priority not in PRIORITIES:
                raise ValueError(f"priority must be one of {', '.join(PRIORITIES)} or an integer")
            data["priority"] = PRIORITIES[priority]
        return data

    @field_validator("command")
    @classmethod
    def _command_not_empty(cls, value: str | list[str]) -> str | list[str]:
        if (isinstance(value, str) and not value.strip()) or (
            isinstance(value, list) and (not value or not all(value))
        ):
            raise ValueError("command must not be empty")
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not ENV_NAME.match(key):
                raise ValueError(f"environment variable name {key!r} is not valid")
            if key.startswith(RESERVED_ENV_PREFIXES) or key in RESERVED_ENV:
                raise ValueError(f"environment variable {key} is set by AICC and cannot be given")
        return value

    @field_validator("kind")
    @classmethod
    def _kind_available(cls, value: JobKind) -> JobKind:
        if value not in SUPPORTED_KINDS:
            raise ValueError(f"kind {value} is not available yet; use train or infer")
        return value

    def argv(self) -> list[str]:
        """The process to exec: a string runs under /bin/sh -c, a list is exec'd as is."""
        return ["/bin/sh", "-c", self.command] if isinstance(self.command, str) else self.command


def job_spec_schema() -> dict[str, Any]:
    """JSON Schema of the spec as stored (integer units), for editors and docs/job-spec.md."""
    return JobSpec.model_json_schema(mode="validation")
