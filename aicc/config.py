"""Server settings: `$AICC_HOME/config.yaml`, then `AICC_*` variables, then command-line flags.

Documented with examples in docs/config.md; the tests load those examples.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class SimulatedGroup(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    count: Annotated[int, Field(ge=1, le=64)] = 1


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_pending_per_user: Annotated[int, Field(ge=1)] = 1000
    max_upload_mib: Annotated[int, Field(ge=1)] = 512
    log_limit_mib: Annotated[int, Field(ge=1)] = 64
    grace_s: Annotated[float, Field(ge=0)] = 10.0
    log_retention_days: Annotated[float, Field(gt=0)] = 30.0


class SlurmSettings(BaseModel):
    """For `executor: slurm`: how to reach the cluster and how to place work there."""

    model_config = ConfigDict(extra="forbid")
    conf: Path | None = None  # slurm.conf; default $SLURM_CONF, then Slurm's own default
    partition: str | None = None
    placement: Literal["aicc", "slurm"] = "aicc"  # aicc picks the node, or Slurm does
    simulated_gpus: bool = False  # the cluster's GPUs are fake gres devices (dev clusters)
    default_model: str | None = None  # catalog model of untyped `gpu:N` gres
    account: str | None = None


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    home: Path = Path("~/.aicc").expanduser()
    db: str | None = None  # None: SQLite in the home
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    executor: str = "local"
    slurm: SlurmSettings = Field(default_factory=lambda: SlurmSettings())
    policy: str = "default"  # a scheduler profile: default, fifo, easy, spread
    node_name: str | None = None
    simulated_devices: list[SimulatedGroup] = Field(default_factory=list)
    limits: Limits = Field(default_factory=Limits)
    secret_key_file: Path | None = None  # default: $AICC_HOME/secret.key; share it between servers
    loop_interval_s: Annotated[float, Field(gt=0)] = 0.5


ENV = {
    "AICC_DB": "db",
    "AICC_HOST": "host",
    "AICC_PORT": "port",
    "AICC_EXECUTOR": "executor",
    "AICC_POLICY": "policy",
    "AICC_NODE_NAME": "node_name",
}


class ConfigError(ValueError):
    """A config file or variable a person must fix; the message says where."""


def default_home() -> Path:
    return Path(os.environ.get("AICC_HOME", "~/.aicc")).expanduser()


def load(home: Path | None = None, **flags: Any) -> Settings:
    home = (home or default_home()).expanduser().resolve()
    values: dict[str, Any] = {}
    path = home / "config.yaml"
    if path.exists():
        try:
            values.update(yaml.safe_load(path.read_text()) or {})
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({err})") from None
    values.update({key: os.environ[var] for var, key in ENV.items() if os.environ.get(var)})
    values.update({k: v for k, v in flags.items() if v is not None})
    values["home"] = home
    try:
        return Settings.model_validate(values)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"settings ({path}, AICC_* variables, flags): {problems}") from None
