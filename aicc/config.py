"""Server settings: `$AICC_HOME/config.yaml`, then `AICC_*` variables, then command-line flags.

Documented with examples in docs/config.md; the tests load those examples.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.exceptions import SettingsError

from aicc.core import accelerator_names
from aicc.core.jobspec import DEFAULT_MAX_REPLICAS, MAX_REPLICAS
from aicc.core.pricing import PricePlan
from aicc.core.revenue import Agreement

# The plan a new center prices with until an operator stores one (`aicc admin price-plan set`,
# the price list's form) or sets `pricing:`: every accelerator by its normalized PFLOPS, CPU and
# memory by the hour, so every estimate shows a real price on the first day, the same in the job
# wizard and the training wizard (issue 58). docs/config.md lists it.
DEFAULT_PRICING = PricePlan(
    name="center-default",
    pflops_hour=Decimal("9.50"),
    cpu_core_hour=Decimal("0.08"),
    memory_gib_hour=Decimal("0.01"),
)


class SimulatedGroup(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    count: Annotated[int, Field(ge=1, le=64)] = 1


class RateLimit(BaseModel):
    """Token buckets per API token and per client address, in each server's memory: a burst,
    then a steady rate; beyond them `429` with `Retry-After` (docs/config.md)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    # A quick loop on one token meets the token's bucket, not only its address's (issue 35: a
    # burst of 1000 refilled at 50/s was never empty at the rate one server answers)
    per_token_per_s: Annotated[float, Field(gt=0, le=1e6)] = 50.0
    per_token_burst: Annotated[int, Field(ge=1, le=10**6)] = 100
    per_address_per_s: Annotated[float, Field(gt=0, le=1e6)] = 100.0
    per_address_burst: Annotated[int, Field(ge=1, le=10**6)] = 2000


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_pending_per_user: Annotated[int, Field(ge=1)] = 1000
    # the most replicas one job (a gang) may ask for, this center's default (issue 35: a gang
    # of 1,024 tiny replicas took the controller minutes to launch); at most the spec's 1024
    max_replicas_per_job: Annotated[int, Field(ge=1, le=MAX_REPLICAS)] = DEFAULT_MAX_REPLICAS
    max_upload_mib: Annotated[int, Field(ge=1)] = 512
    max_unpacked_mib: Annotated[int, Field(ge=1)] = 1024  # a workdir's files, unpacked
    max_workdir_files: Annotated[int, Field(ge=1)] = 100_000  # members of a workdir archive
    max_request_mib: Annotated[int, Field(ge=1, le=1024)] = 8  # any other request body
    rate_limit: RateLimit = Field(default_factory=RateLimit)
    log_limit_mib: Annotated[int, Field(ge=1)] = 64
    grace_s: Annotated[float, Field(ge=0)] = 10.0
    log_retention_days: Annotated[float, Field(gt=0)] = 30.0
    node_failures_to_cordon: Annotated[int, Field(ge=0)] = 3  # within the window; 0: never
    node_failure_window_h: Annotated[float, Field(gt=0)] = 24.0
    exec_idle_s: Annotated[float, Field(gt=0, le=7 * 86400)] = 900.0  # an exec without traffic
    exec_max_s: Annotated[float, Field(gt=0, le=7 * 86400)] = 8 * 3600.0  # any exec session


class SlurmSettings(BaseModel):
    """For `executor: slurm`: how to reach the cluster and how to place work there."""

    model_config = ConfigDict(extra="forbid")
    conf: Path | None = None  # slurm.conf; default $SLURM_CONF, then Slurm's own default
    partition: str | None = None
    placement: Literal["aicc", "slurm"] = "aicc"  # aicc picks the node, or Slurm does
    simulated_gpus: bool = False  # the cluster's GPUs are fake gres devices (dev clusters)
    default_model: str | None = None  # catalog model of untyped `gpu:N` gres
    account: str | None = None


class RaySettings(BaseModel):
    """For `executor: ray`: the Ray cluster's Jobs API and how its nodes appear in AICC."""

    model_config = ConfigDict(extra="forbid")
    address: str = "http://127.0.0.1:8265"  # the dashboard, which serves the Jobs and State APIs
    runs_dir: Path | None = None  # default $AICC_HOME/ray-runs; every Ray node must see it
    cluster: str = "ray"  # the `cluster` label of the Ray nodes
    pool: str = "default"  # the `pool` label of the Ray nodes
    simulated_gpus: bool = False  # the cluster's GPUs are declared (`ray start --num-gpus`), fake
    default_model: str | None = None  # catalog model of GPUs Ray reports no accelerator type for
    request_timeout_s: Annotated[float, Field(gt=0)] = 30.0


class KubernetesSettings(BaseModel):
    """For `executor: kubernetes`: which cluster and namespace, and how pods are built there
    (docs/kubernetes.md)."""

    model_config = ConfigDict(extra="forbid")
    kubeconfig: Path | None = None  # default $KUBECONFIG, ~/.kube/config; in a pod, its account
    context: str | None = None  # a kubeconfig context; default the current one
    namespace: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")] = "aicc"
    cluster: str = "kubernetes"  # the `cluster` label of the Kubernetes nodes
    node_selector: dict[str, str] = Field(default_factory=dict)  # which nodes AICC may use
    placement: Literal["aicc", "kubernetes"] = "aicc"  # node affinity on AICC's choice, or none
    image: str | None = None  # the image of jobs that name none
    image_pull_secrets: list[str] = Field(default_factory=list)
    service_account: str | None = None
    priority_classes: dict[Literal["low", "normal", "high"], str] = Field(default_factory=dict)
    tolerations: list[dict[str, Any]] = Field(default_factory=list)
    pool_label: str = "aicc.io/pool"  # node label whose value is the node's pool
    rack_label: str | None = "topology.kubernetes.io/rack"  # node label naming its rack
    default_models: dict[str, str] = Field(default_factory=dict)  # resource -> catalog model
    simulated_gpus: bool = False  # the cluster's devices are fakes (a dev cluster's plugin)
    hami: bool = False  # HAMi is installed: shares of NVIDIA GPUs (gpumem, gpucores)
    volume_claim: str | None = None  # a ReadWriteMany claim for outputs and checkpoints
    volume_path: Path | None = None  # where this server mounts that claim's root
    init_image: str | None = None  # unpacks the workdir (needs tar); default the job's image
    # Data sets (`datasets:` in a job spec): each pod's `data` init container, in `data_image`
    # (an image with AICC installed), fetches them from the API at `api_url` (as pods reach it)
    # into the pod, through a cache of `data_cache_gib` at `data_cache_path` on each node (a
    # hostPath; None: no node cache, every pod fetches all). docs/kubernetes.md#data-sets
    api_url: Annotated[str | None, Field(pattern=r"^https?://")] = None
    data_image: str | None = None
    data_cache_path: Annotated[str | None, Field(pattern=r"^/")] = "/var/cache/aicc/data"
    data_cache_gib: Annotated[float, Field(gt=0)] = 100.0
    ttl_after_finished_s: Annotated[int | None, Field(ge=0)] = 86400
    start_timeout_s: Annotated[float, Field(gt=0)] = 600.0
    request_timeout_s: Annotated[float, Field(gt=0)] = 30.0


class S3Settings(BaseModel):
    """Object storage for data set chunks (`data.backend: s3`): any S3-compatible service.
    Fields left out fall back to boto3's own sources: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    AWS_SESSION_TOKEN, AWS_ENDPOINT_URL, AWS_REGION, ~/.aws, an instance role."""

    model_config = ConfigDict(extra="forbid")
    endpoint_url: Annotated[str | None, Field(pattern=r"^https?://")] = None  # None: AWS
    bucket: str | None = None  # required with backend s3; AICC does not create it
    region: str | None = None
    prefix: str = ""  # keys are PREFIX/chunks/ab/<digest>
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None


class DataSettings(BaseModel):
    """Data sets (docs/contracts.md §9): where chunks are stored, the node cache, query limits."""

    model_config = ConfigDict(extra="forbid")
    backend: Literal["local", "s3"] = "local"
    root: Path | None = None  # local chunks go in root/chunks; default $AICC_HOME/data
    s3: S3Settings = Field(default_factory=lambda: S3Settings())
    cache_dir: Path | None = None  # each node's chunk cache; default $AICC_HOME/cache/data
    cache_gib: Annotated[float, Field(gt=0)] = 50.0
    query_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 10.0
    query_memory_mib: Annotated[int, Field(ge=64)] = 1024
    # Where the bytes are (issue 35): a push not committed within this many hours is dropped
    # with its chunks; one profile's or query's assembled files, and all of them, on disk under
    # $AICC_HOME/data/views (least recently used evicted first).
    upload_expiry_h: Annotated[float, Field(gt=0, le=24 * 30)] = 6.0
    view_max_gib: Annotated[float, Field(gt=0)] = 4.0
    views_total_gib: Annotated[float, Field(gt=0)] = 20.0

    @model_validator(mode="after")
    def _bucket_for_s3(self) -> DataSettings:
        if self.backend == "s3" and not self.s3.bucket:
            raise ValueError("data.backend is s3 but data.s3.bucket is not set")
        return self


class DeploymentSettings(BaseModel):
    """Deployments (docs/deployments.md): the replica cap, how the control loop probes replicas,
    drains them in a rolling update, and gives up on a replica that never starts."""

    model_config = ConfigDict(extra="forbid")
    max_replicas: Annotated[int, Field(ge=1, le=1000)] = 16  # the cap of a deployment's max
    probe_interval_s: Annotated[float, Field(gt=0)] = 2.0
    probe_timeout_s: Annotated[float, Field(gt=0)] = 1.0
    unready_after: Annotated[int, Field(ge=1)] = 3  # failed probes in a row: no more requests
    dead_after: Annotated[int, Field(ge=1)] = 10  # failed probes in a row: replaced
    start_timeout_s: Annotated[float, Field(gt=0)] = 900.0  # running but never ready: replaced
    drain_s: Annotated[float, Field(ge=0)] = 5.0  # out of routing, then cancelled
    failures_to_fail: Annotated[int, Field(ge=1)] = 5  # replicas in a row that never got ready
    backoff_s: Annotated[float, Field(ge=0)] = 2.0  # before the next try; doubles, up to 5 min
    # the autoscaler (core/autoscaling.py): requests in flight per replica it aims for, unless a
    # deployment says otherwise; its windows; how long without a request before zero replicas
    # (deployments with min_replicas 0)
    target_concurrency: Annotated[float, Field(gt=0)] = 2.0
    stable_window_s: Annotated[float, Field(gt=0, le=3600)] = 60.0
    panic_window_s: Annotated[float, Field(gt=0, le=3600)] = 6.0
    scale_down_delay_s: Annotated[float, Field(ge=0, le=3600)] = 30.0
    scale_to_zero_after_s: Annotated[float, Field(gt=0)] = 300.0
    cold_start_timeout_s: Annotated[float, Field(gt=0)] = 300.0  # a request held for a replica


class SiteSettings(BaseModel):
    """The site: billing time zone, and the power and carbon model of metering
    (docs/billing.md)."""

    model_config = ConfigDict(extra="forbid")
    # billing months, days and voucher windows (docs/contracts.md §1)
    timezone: str = "Asia/Shanghai"
    pue: Annotated[float, Field(ge=1, le=5)] = 1.3  # facility power / IT power
    idle_power_fraction: Annotated[float, Field(ge=0, le=1)] = 0.15  # of TDP, at 0% busy
    assumed_utilization: Annotated[float, Field(ge=0, le=1)] = 1.0  # energy without NVML
    sample_interval_s: Annotated[float, Field(gt=0)] = 60.0  # NVML utilization samples
    # gCO₂ per kWh where no energy profile gives the hour's. Default: China's national grid
    # average of 2022, 0.5366 kgCO₂/kWh, published by the Ministry of Ecology and Environment
    # and the National Bureau of Statistics on 20 December 2024 (2022年电力二氧化碳排放因子).
    carbon_intensity: Annotated[float, Field(ge=0, le=3000)] = 536.6
    # YAML of the site's hourly PUE, carbon intensity and electricity price (core/energy.py);
    # a relative path is from $AICC_HOME. None: `pue` and `carbon_intensity` at every hour.
    energy_profile: Path | None = None
    # The facility power (IT power x the hour's PUE) the scheduler keeps new starts under, in
    # kW; None: no standing cap. Operators add caps for a window (`aicc center power-cap set`).
    power_cap_kw: Annotated[float | None, Field(gt=0, le=1_000_000)] = None
    # IT watts per core a job without accelerators is counted at under a power cap, on a node
    # with no fresh BMC or RAPL sample (a measured node: its share of the node's power).
    cpu_core_w: Annotated[float, Field(ge=0, le=1000)] = 6.0
    # A day-ahead carbon intensity forecast, `time,value` rows (gCO₂/kWh, UTC unless the time
    # has an offset) that the operator's cron job refreshes: re-read when its mtime changes, its
    # hours override the energy profile's in the green planner's horizon; ignored, with a
    # warning, once older (by mtime) than `carbon_forecast_max_age_h`. Relative: $AICC_HOME.
    carbon_forecast: Path | None = None
    carbon_forecast_max_age_h: Annotated[float, Field(gt=0, le=24 * 14)] = 36.0

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; e.g. Asia/Shanghai or UTC") from None
        return value


Tier = Annotated[int, Field(ge=1, le=3)]  # a service tier, 1 highest


class TierSettings(BaseModel):
    """Service tiers (docs/gateway.md, "Service tiers"): when a deployment's replicas hold
    `per_replica` requests each, a request waits in its key's tier's line, higher tiers first;
    a full line, or a wait past its bound, is a 429 with `Retry-After`."""

    model_config = ConfigDict(extra="forbid")
    # requests in flight per ready replica before requests wait; None: no admission control
    per_replica: Annotated[int | None, Field(ge=1, le=100_000)] = None
    queue: dict[Tier, Annotated[int, Field(ge=0, le=1_000_000)]] = Field(
        default_factory=lambda: {1: 1000, 2: 200, 3: 20}
    )  # requests that may wait, per tier
    wait_s: dict[Tier, Annotated[float, Field(gt=0, le=3600)]] = Field(
        default_factory=lambda: {1: 60.0, 2: 20.0, 3: 5.0}
    )  # how long one may wait, per tier
    # one slot in `share` goes to a lower tier that waits while a higher one does: never starved
    share: Annotated[int, Field(ge=2, le=1000)] = 10
    # p95 latency objectives (ms) shown on a deployment's page and alerted on
    objectives_ms: dict[Tier, Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: {1: 2000.0, 2: 5000.0, 3: 20000.0}
    )


class SafetyRuleSettings(BaseModel):
    """Words (literal, any case) and regular expressions under one name (`core/safety.py`)."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=64)]
    words: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list)
    patterns: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        default_factory=list
    )
    action: Literal["block", "mask"] = "block"

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: list[str]) -> list[str]:
        import re

        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as e:
                raise ValueError(f"pattern {pattern!r} is not a regular expression: {e}") from None
        return value


class SafetyClassifierSettings(BaseModel):
    """A classifier model a policy asks besides its rules (docs/gateway.md, "Content safety"):
    a deployment of a sequence-classification model, whose `/v1/moderations` answers scores
    per category; a text scoring `threshold` or more in one of `labels` (all when empty) is
    blocked as a rule's match would be."""

    model_config = ConfigDict(extra="forbid")
    deployment: Annotated[str, Field(min_length=1, max_length=64)]  # its id (dep_...)
    threshold: Annotated[float, Field(ge=0, le=1)] = 0.5
    labels: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list)
    # the classifier down or slower than `timeout_s`: refuse (a 503) or let the text through
    on_error: Literal["closed", "open"] = "closed"
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    # a streamed answer's text so far is classified each time this many characters came
    # (and once at its end)
    stream_every_chars: Annotated[int, Field(ge=1, le=1_000_000)] = 400


class SafetyPolicySettings(BaseModel):
    """One content-safety policy: the center's (`gateway.safety`), or a deployment's, which
    adds its rules to the center's (`replace`: instead of them) and overrides what it sets."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool | None = None
    prompts: bool | None = None  # check prompts before they reach a replica
    completions: bool | None = None  # check answers, streamed ones as they stream
    store_text: bool | None = None  # keep the text that was blocked or masked
    window_chars: Annotated[int | None, Field(ge=0, le=4096)] = None
    rules: list[SafetyRuleSettings] = Field(default_factory=list)
    replace: bool = False
    classifier: SafetyClassifierSettings | None = None  # a deployment's replaces the center's


class SafetySettings(SafetyPolicySettings):
    """The center's content safety (docs/gateway.md, "Content safety"), with deployments'
    policies by deployment id."""

    deployments: dict[str, SafetyPolicySettings] = Field(default_factory=dict)


class GatewaySettings(BaseModel):
    """The OpenAI-compatible gateway under `/v1` (docs/gateway.md): how long it trusts what it
    read from the store, and how it reaches replicas."""

    model_config = ConfigDict(extra="forbid")
    key_cache_s: Annotated[float, Field(ge=0, le=300)] = 5.0  # a revoked key stops within this
    endpoint_cache_s: Annotated[float, Field(ge=0, le=60)] = 1.0  # which replicas are ready
    max_attempts: Annotated[int, Field(ge=1, le=10)] = 3  # replicas tried for one request
    connect_timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    read_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 600.0  # between two bytes
    max_connections: Annotated[int, Field(ge=1, le=100_000)] = 1000  # to all replicas
    # the most bytes read of a replica's whole answer, and of one event of its stream (past
    # either: a 502, the connection closed; docs/gateway.md): a replica is a tenant's job
    max_answer_bytes: Annotated[int, Field(ge=1024, le=1 << 34)] = 256 * 1024 * 1024
    max_event_bytes: Annotated[int, Field(ge=1024, le=1 << 30)] = 16 * 1024 * 1024
    # each request's record is committed before its answer's last bytes (False: right after)
    durable_log: bool = True
    tiers: TierSettings = Field(default_factory=lambda: TierSettings())
    safety: SafetySettings = Field(default_factory=lambda: SafetySettings())
    # OpenAI's files and batches under /v1 (docs/interop.md): the largest file a client may
    # upload, batch lines in flight at once (all batches of this process), the interactive
    # requests in flight to a deployment at which its batch lines wait, how often an idle
    # runner looks for a batch (0: no runner in this process)
    max_file_bytes: Annotated[int, Field(ge=1, le=1 << 34)] = 100 * 1024 * 1024
    batch_concurrency: Annotated[int, Field(ge=1, le=1024)] = 8
    batch_yield_inflight: Annotated[int, Field(ge=1, le=100_000)] = 4
    batch_poll_s: Annotated[float, Field(ge=0, le=3600)] = 2.0
    # a request for an adapter goes to a replica holding it unless that one has more than this
    # many requests in flight beyond the least loaded replica (docs/gateway.md, "Adapters")
    adapter_slack: Annotated[int, Field(ge=0, le=1000)] = 2


# The embedded registry listens on the server's port less this (8080: 5000, 8090: 5010), so a
# second AICC on another port gets a registry of its own, and the default server keeps the
# registry at 5000 that images pushed to it are named by. Not a free port chosen at each start:
# image references name the registry's HOST:PORT, so it must stay put across restarts.
REGISTRY_PORT_OFFSET = 3080
REGISTRY_PORT_FALLBACK = 5000  # where the offset gives no unprivileged port (a server on 80)


def registry_port(server_port: int) -> int:
    """The embedded registry's port beside a server on `server_port` (docs/config.md)."""
    port = server_port - REGISTRY_PORT_OFFSET
    return port if 1024 <= port <= 65535 else REGISTRY_PORT_FALLBACK


class RegistrySettings(BaseModel):
    """The center registry (docs/config.md, "The center registry"): an OCI distribution
    registry whose token server is AICC. `embedded`: AICC starts Debian's `docker-registry` on
    `listen` with its blobs in `storage_dir`; else `url` names an external one (Harbor) set up
    with AICC's token realm and certificate."""

    model_config = ConfigDict(extra="forbid")
    embedded: bool = True
    # Loopback: a node reaches it through the site's proxy. None: 127.0.0.1 and the server's
    # port less REGISTRY_PORT_OFFSET, which `Settings` fills in (alone: the fallback's).
    listen: str | None = None
    storage_dir: Path | None = None  # default $AICC_HOME/registry/storage
    # How clients and AICC reach the registry; None: http://<listen> for the embedded one.
    url: str | None = None
    # The `service` (the JWT's audience) the registry announces; tokens are for it alone.
    service: str = "aicc-registry"
    # Where the registry sends clients for a token; None: this server's /api/v1/registry/token.
    token_realm: str | None = None
    token_ttl_s: Annotated[int, Field(ge=30, le=86400)] = 300
    # A job's pull-only credential lives this long (a long pull must not outlive it).
    pull_credential_ttl_s: Annotated[int, Field(ge=60, le=7 * 86400)] = 3600
    # Other registries (HOST[:PORT]) a job's image may come from, a site's mirror say:
    # `localhost` is what the nodes' own image storage holds. Any other is refused at submit,
    # so a tenant cannot have the nodes fetch from a host of its choosing.
    external: list[str] = Field(default_factory=lambda: ["localhost"])
    binary: Path = Path("/usr/bin/docker-registry")

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        _, colon, port = value.rpartition(":")
        if not colon or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{value!r}: HOST:PORT, e.g. 127.0.0.1:5000")
        return value

    @property
    def listens_on(self) -> str:
        """`listen`, or where a registry of no server's listens (HOST:PORT)."""
        return self.listen or f"127.0.0.1:{REGISTRY_PORT_FALLBACK}"

    def address(self) -> str:
        """The registry's base URL, no trailing slash."""
        return (self.url or f"http://{self.listens_on}").rstrip("/")


class ContainerSettings(BaseModel):
    """How replicas that name an `image:` run on the local, Slurm and Ray executors
    (docs/config.md, "Jobs in images"): `auto` in podman where it works (else those jobs fail
    `image_unavailable`), `podman` refuses to start without it, `off` runs none."""

    model_config = ConfigDict(extra="forbid")
    runtime: Literal["auto", "podman", "off"] = "auto"
    # Registries (HOST:PORT) pulled from without TLS (the embedded registry's http address
    # is added by itself).
    insecure_registries: list[str] = Field(default_factory=list)


class ImageSettings(BaseModel):
    """The center's development environments (docs/config.md, "Development environments"):
    the catalog of base images per accelerator family and what each needs of a node."""

    model_config = ConfigDict(extra="forbid")
    catalog: Path | None = None  # None: aicc/services/jobs/devenvs.yaml as AICC ships it


class ReportSettings(BaseModel):
    """The center's monthly report (docs/reports.md): the 投-建-运 agreement it shares the
    month's revenue under."""

    model_config = ConfigDict(extra="forbid")
    agreement: Agreement = Field(default_factory=Agreement)


class SmtpSettings(BaseModel):
    """The mail server notifications are sent through (docs/notifications.md); the password
    from `AICC_NOTIFY__SMTP__PASSWORD` rather than the file."""

    model_config = ConfigDict(extra="forbid")
    host: str | None = None  # None: email channels fail with a message saying so
    port: Annotated[int, Field(ge=1, le=65535)] = 25
    from_addr: str = "aicc@localhost"
    starttls: bool = False
    user: str | None = None
    password: str | None = None


class NotifySettings(BaseModel):
    """Notifications (docs/notifications.md): how each delivery is sent and retried."""

    model_config = ConfigDict(extra="forbid")
    smtp: SmtpSettings = Field(default_factory=lambda: SmtpSettings())
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0  # one send, connect to answer
    backoff_s: Annotated[float, Field(gt=0, le=3600)] = 10.0  # then twice that, and so on
    backoff_max_s: Annotated[float, Field(gt=0, le=86400)] = 600.0
    max_attempts: Annotated[int, Field(ge=1, le=50)] = 8  # then the delivery is `failed`
    batch: Annotated[int, Field(ge=1, le=500)] = 20  # deliveries claimed at most at once
    senders: Annotated[int, Field(ge=1, le=256)] = 16  # sends at once (threads)
    # sends of one organization at once: a receiver that never answers holds no more of them
    per_org: Annotated[int, Field(ge=1, le=256)] = 8
    # test messages of one organization waiting to be sent; past that the test route is a 429
    tests_per_org: Annotated[int, Field(ge=1, le=1000)] = 10
    # Hosts on loopback or private addresses that channels may reach (a receiver of the
    # center's own); any other such address is refused, as a tenant's URL is hostile.
    private_hosts: list[Annotated[str, Field(min_length=1, max_length=253)]] = Field(
        default_factory=list, max_length=100
    )


class NotebookSettings(BaseModel):
    """Notebooks (docs/notebooks.md): when an idle one is culled, and how often that is asked."""

    model_config = ConfigDict(extra="forbid")
    idle_timeout_s: Annotated[int, Field(ge=60, le=7 * 86400)] = 3600  # a notebook's default
    check_interval_s: Annotated[float, Field(gt=0)] = 30.0  # how often running ones are asked


class BurnInFloor(BaseModel):
    """The least each figure of a burn-in must reach on nodes of `kind` (`*`: every kind), in
    the figure's unit (docs/burn-in.md); a figure left out has no floor."""

    model_config = ConfigDict(extra="forbid")
    kind: Annotated[str, Field(min_length=1, max_length=128)] = "*"
    cpu_gflops: Annotated[float | None, Field(ge=0)] = None  # GFLOP/s
    cpu_hash_mbs: Annotated[float | None, Field(ge=0)] = None  # MB/s, one core
    memory_gbs: Annotated[float | None, Field(ge=0)] = None  # GB/s
    disk_write_mbs: Annotated[float | None, Field(ge=0)] = None  # MB/s
    disk_read_mbs: Annotated[float | None, Field(ge=0)] = None  # MB/s
    network_mbs: Annotated[float | None, Field(ge=0)] = None  # MB/s


class BurnInSettings(BaseModel):
    """Burn-in before service (docs/burn-in.md): a node that joins, or returns from
    maintenance, runs `python -m aicc.burnin` and serves only once its figures pass; one that
    fails is quarantined with its figures. Off by default (a single machine serves at once);
    recommended in production."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    # seconds each of the CPU and memory figures is measured for (a few: a burn-in of its own
    # is what an operator wants, not a benchmark)
    duration_s: Annotated[float, Field(gt=0, le=600)] = 3.0
    disk_mib: Annotated[int, Field(ge=1, le=65536)] = 256  # written, fsynced and read back
    network_mib: Annotated[int, Field(ge=1, le=65536)] = 64  # sent to the server's sink
    # where nodes reach the server's network sink; None: only nodes of this machine measure
    # the network, others skip it with that reason
    network_host: Annotated[str | None, Field(max_length=200)] = None
    # a figure passes at this share of its reference: the median of the earlier passes of
    # nodes of the same kind, or the floor below where none passed yet
    tolerance: Annotated[float, Field(gt=0, le=1)] = 0.7
    # floors per node kind (the node label `kind_label`, else its accelerator model, else
    # `cpu`); a kind's own over those of `*`
    floors: list[BurnInFloor] = Field(default_factory=list, max_length=1000)
    kind_label: Annotated[str, Field(min_length=1, max_length=63)] = "kind"
    timeout_s: Annotated[float, Field(ge=10, le=86400)] = 1800.0  # then it counts as failed


class BmcSettings(BaseModel):
    """How nodes' BMCs are read (docs/operations.md, "Nodes' BMCs"): each request's timeout,
    how many BMCs are asked at once, and how often a node named without one is sampled."""

    model_config = ConfigDict(extra="forbid")
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0  # connect, and each answer
    concurrency: Annotated[int, Field(ge=1, le=512)] = 32  # BMCs asked side by side
    interval_s: Annotated[float, Field(ge=5, le=3600)] = 60.0  # a new BMC's sampling interval
    # this machine's CPU and memory power from RAPL (/sys/class/powercap), where readable
    rapl: bool = True
    # days nodes' power samples (BMC and RAPL) are kept: the power curve's reach, and the CPU
    # jobs' metering, which reads them hourly (at least 2 days, so a restart misses none)
    history_days: Annotated[float, Field(ge=2, le=400)] = 90.0


class MeterRegister(BaseModel):
    """Where a facility meter keeps its reading (docs/energy.md, "Facility meters"): the first
    register's `address` (0-based, as the Modbus PDU carries it), `count` words of `type`
    (checked against the type), their `word_order`, times `scale`, in `unit`: kW, W or MW now,
    or a kWh, Wh or MWh counter."""

    model_config = ConfigDict(extra="forbid")
    address: Annotated[int, Field(ge=0, le=65535)]
    count: Annotated[int | None, Field(ge=1, le=4)] = None  # None: the type's own
    type: Literal["int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"] = (
        "float32"
    )
    word_order: Literal["big", "little"] = "big"  # big: the first register is the high word
    scale: Annotated[float, Field(gt=0, le=1e9)] = 1.0
    unit: Literal["kW", "W", "MW", "kWh", "Wh", "MWh"] = "kW"
    table: Literal["holding", "input"] = "holding"  # function code 3 or 4

    @model_validator(mode="after")
    def _count_fits(self) -> MeterRegister:
        words = {"int16": 1, "uint16": 1, "float32": 2, "int32": 2, "uint32": 2}.get(self.type, 4)
        if self.count is not None and self.count != words:
            raise ValueError(f"count {self.count} does not fit type {self.type} ({words} words)")
        return self


class MeterOid(BaseModel):
    """Where an SNMP meter (a PDU) keeps its reading (docs/energy.md, "Facility meters"): the
    numeric `oid`, its `type` (`integer`: INTEGER, Gauge32, Counter32/64, Unsigned32; `string`:
    an OCTET STRING holding a decimal number), times `scale`, in `unit`."""

    model_config = ConfigDict(extra="forbid")
    oid: Annotated[str, Field(max_length=256, pattern=r"^\.?[0-2](\.\d{1,10}){1,63}$")]
    type: Literal["integer", "string"] = "integer"
    scale: Annotated[float, Field(gt=0, le=1e9)] = 1.0
    unit: Literal["kW", "W", "MW", "kWh", "Wh", "MWh"] = "W"  # a PDU's watts, most often


METER_PORTS = {"modbus": 502, "snmp": 161}


class MeterSnmpV3(BaseModel):
    """An SNMP meter's SNMPv3 user (docs/energy.md): authentication always (a v3 read without
    it is no better than a community), encryption where `priv_protocol` is given. The keys
    are secrets, as the v2c community is; RFC 3414 wants pass phrases of 8 characters or more."""

    model_config = ConfigDict(extra="forbid")
    user: Annotated[str, Field(min_length=1, max_length=32)]
    auth_protocol: Literal["MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512"] = "SHA-256"
    auth_key: Annotated[SecretStr, Field(min_length=8, max_length=128)]
    priv_protocol: Literal["AES", "AES-192", "AES-256"] | None = None
    priv_key: Annotated[SecretStr | None, Field(min_length=8, max_length=128)] = None
    context: Annotated[str, Field(max_length=32)] = ""  # the SNMPv3 context name; "": default

    @model_validator(mode="after")
    def _priv_pair(self) -> MeterSnmpV3:
        if self.priv_protocol is not None and self.priv_key is None:
            raise ValueError("snmpv3.priv_key is needed with snmpv3.priv_protocol")
        if self.priv_key is not None and self.priv_protocol is None:
            raise ValueError("snmpv3.priv_protocol (AES, AES-192 or AES-256) is needed with "
                             "snmpv3.priv_key")  # fmt: skip
        return self


class MeterSettings(BaseModel):
    """One of the center's facility meters, read over Modbus TCP or SNMP (docs/energy.md):
    its `role` (utility: the whole site's feed; it: the IT load's; cooling), where it answers,
    how often it is read and each read's timeout, and where its reading is: a Modbus meter's
    unit (slave) id and register map, or an SNMP agent's `oid` with its v2c `community` or its
    `snmpv3` user, exactly one."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[
        str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    ]
    role: Literal["utility", "it", "cooling"]
    protocol: Literal["modbus", "snmp"] = "modbus"
    host: Annotated[str, Field(min_length=1, max_length=253)]
    port: Annotated[int | None, Field(ge=1, le=65535)] = None  # None: 502 (Modbus), 161 (SNMP)
    unit_id: Annotated[int, Field(ge=0, le=255)] = 1
    interval_s: Annotated[float, Field(ge=1, le=60)] = 15.0  # an hour's gap is 5 unsampled minutes
    timeout_s: Annotated[float, Field(gt=0, le=30)] = 3.0  # connect, and the answer
    registers: MeterRegister | None = None  # a Modbus meter's register map
    community: Annotated[SecretStr | None, Field(max_length=128)] = None  # SNMP v2c; a secret
    snmpv3: MeterSnmpV3 | None = None  # SNMPv3 instead of a community: the user and its keys
    oid: MeterOid | None = None  # an SNMP meter's object

    @model_validator(mode="after")
    def _one_map(self) -> MeterSettings:
        """Exactly the fields of its protocol: a meter is read by one reader, from one place."""
        if self.protocol == "modbus":
            if self.registers is None:
                raise ValueError("a modbus meter needs `registers` (its register map)")
            if self.oid is not None or self.community is not None or self.snmpv3 is not None:
                raise ValueError("`oid`, `community` and `snmpv3` are for `protocol: snmp` meters")
        else:
            if self.oid is None:
                raise ValueError("an snmp meter needs `oid` (the object holding its reading)")
            if self.registers is not None:
                raise ValueError("`registers` are for `protocol: modbus` meters")
            if self.snmpv3 is not None and self.community is not None:
                raise ValueError(
                    "an snmp meter is read with `community` (v2c) or `snmpv3`, not both"
                )
            if self.snmpv3 is None and (
                self.community is None or not self.community.get_secret_value()
            ):
                raise ValueError(
                    "an snmp meter needs `community` (its SNMP v2c read community) or "
                    "`snmpv3` (its SNMPv3 user and keys)"
                )
        if self.port is None:
            self.port = METER_PORTS[self.protocol]
        return self


class OpenAdrSettings(BaseModel):
    """The center as an OpenADR 2.0b VEN (docs/energy.md, "Demand response"): the utility's or
    aggregator's VTN it polls, and how a `SIMPLE` level maps to a site power cap in kW (a
    `LOAD_DISPATCH` setpoint is the cap itself). No `vtn_url`: no VEN."""

    model_config = ConfigDict(extra="forbid")
    vtn_url: Annotated[str | None, Field(max_length=500, pattern=r"^https?://")] = None
    ven_name: Annotated[str, Field(min_length=1, max_length=64)] = "aicc"
    ven_id: Annotated[str | None, Field(max_length=64)] = None  # None: the VTN assigns one
    # SIMPLE levels 1 (moderate), 2 (high), 3 (special) -> the facility power cap in kW
    levels: dict[Annotated[int, Field(ge=1, le=3)], Annotated[float, Field(gt=0, le=1e6)]] = Field(
        default_factory=dict
    )
    # TLS client certificate and key that sign the VEN's messages; None: unsigned (test VTNs)
    cert: Path | None = None
    key: Path | None = None
    vtn_fingerprint: str | None = None  # the VTN's certificate fingerprint, where signed
    ca_file: Path | None = None
    # true: answer every event optOut and keep no caps (the site does not take part for now)
    opt_out: bool = False
    # the shortest interval the VEN offers to sample its telemetry report (measured kW, asked kW)
    report_interval_s: Annotated[float, Field(ge=1, le=3600)] = 60.0


class NodesSettings(BaseModel):
    """How nodes enter service and how their BMCs are read (docs/config.md, the `nodes.`
    table)."""

    model_config = ConfigDict(extra="forbid")
    burn_in: BurnInSettings = Field(default_factory=lambda: BurnInSettings())
    bmc: BmcSettings = Field(default_factory=lambda: BmcSettings())


class MaintenanceSettings(BaseModel):
    """Maintenance windows (docs/operations.md): a job without a declared runtime does not
    start on a node whose next window begins within `notice_s` (it could not end before)."""

    model_config = ConfigDict(extra="forbid")
    notice_s: Annotated[float, Field(ge=0, le=366 * 86400)] = 86400.0


class SlaCredit(BaseModel):
    """One row of the leases' service credit table: availability `below` this (percent, or
    `tier`: the lease's promised tier) earns `credit_pct` of the month's lease charge."""

    model_config = ConfigDict(extra="forbid")
    below: Literal["tier"] | Annotated[float, Field(ge=0, le=100)]
    credit_pct: Annotated[float, Field(ge=0, le=100)]


def _default_credits() -> list[SlaCredit]:
    return [
        SlaCredit(below="tier", credit_pct=10),
        SlaCredit(below=99.0, credit_pct=30),
        SlaCredit(below=95.0, credit_pct=100),
    ]


class LeaseSettings(BaseModel):
    """Leases' SLA (docs/operations.md: SLA reports): the service credit table, the largest
    share of the rows availability is below."""

    model_config = ConfigDict(extra="forbid")
    credits: list[SlaCredit] = Field(default_factory=_default_credits, max_length=20)


class OidcRule(BaseModel):
    """One line of the claim mapping: a person whose `claim` holds `value` (one of a list, or
    the value itself) joins the organization `org` with `role`."""

    model_config = ConfigDict(extra="forbid")
    claim: str | None = None  # None: the provider's groups_claim
    value: Annotated[str, Field(min_length=1)]
    org: Annotated[str, Field(min_length=1)]
    role: Literal["admin", "org_admin", "member", "viewer"] = "member"


class OidcSettings(BaseModel):
    """Single sign-on with an OpenID Connect provider (docs/sso.md): the authorization code flow
    with PKCE; people are linked by the provider's issuer and subject, and their claims map to an
    organization and a role at every sign-in (the first rule that matches)."""

    model_config = ConfigDict(extra="forbid")
    issuer: str | None = None  # None: no single sign-on; discovery at ISSUER/.well-known/...
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,30}$")] = "oidc"  # in /sso/NAME
    label: Annotated[str, Field(min_length=1, max_length=60)] = "single sign-on"  # the button
    client_id: str = ""
    client_secret: SecretStr | None = None  # None: a public client (PKCE only)
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email"])
    # None: /sso/NAME/callback on the address the browser used (set it behind a proxy)
    redirect_uri: Annotated[str | None, Field(pattern=r"^https?://")] = None
    username_claim: str = "preferred_username"  # then `email`'s local part, then `sub`
    groups_claim: str = "groups"
    rules: list[OidcRule] = Field(default_factory=list)
    unmapped: Literal["refuse", "member"] = "refuse"  # member: of default_org
    default_org: str = "default"
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0

    @model_validator(mode="after")
    def _complete(self) -> OidcSettings:
        if self.issuer is None:
            return self
        from urllib.parse import urlsplit

        url = urlsplit(self.issuer)
        local = url.hostname in ("localhost", "127.0.0.1", "::1")
        if url.scheme != "https" and not (url.scheme == "http" and local):
            raise ValueError("oidc.issuer must be an https:// URL (http only on localhost)")
        if not self.client_id:
            raise ValueError("oidc.client_id is required with oidc.issuer")
        if "openid" not in self.scopes:
            raise ValueError("oidc.scopes must include openid")
        return self


class FederationPeer(BaseModel):
    """Another site of the federation: its name, API base URL and Ed25519 public key; or, of
    kind `tes`, any GA4GH TES 1.1 server, called with a bearer token (docs/federation.md)."""

    model_config = ConfigDict(extra="forbid")
    site: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,30}$")]
    url: Annotated[str, Field(pattern=r"^https?://")]
    kind: Literal["aicc", "tes"] = "aicc"
    # base64 of the raw 32 bytes; an `aicc` peer's only
    public_key: Annotated[str | None, Field(min_length=40, max_length=60)] = None
    token: SecretStr | None = None  # a `tes` peer's bearer token; never shown nor logged
    # a `tes` peer: the accelerator models its tasks may ask for (TES has no way to say)
    accelerators: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list
    )
    jurisdiction: Annotated[str, Field(min_length=2, max_length=16)] | None = None  # a `tes` peer

    @model_validator(mode="after")
    def _kind(self) -> FederationPeer:
        if self.kind == "aicc" and self.public_key is None:
            raise ValueError(f"federation.peers {self.site}: public_key is required")
        if self.kind == "tes" and self.public_key is not None:
            raise ValueError(f"federation.peers {self.site}: a tes peer has no public_key")
        if self.kind == "aicc" and (self.token is not None or self.accelerators):
            raise ValueError(
                f"federation.peers {self.site}: token and accelerators are a tes peer's"
            )
        try:  # the catalog's names, as a job's models are read (`H100` is `H100-SXM`)
            self.accelerators = list(
                dict.fromkeys(accelerator_names.lookup(a).name for a in self.accelerators)
            )
        except KeyError as err:
            raise ValueError(f"federation.peers {self.site}: accelerators: {err.args[0]}") from None
        return self


class FederationWeights(BaseModel):
    """How much each part of a site's score counts (scheduler/federation.py): each part is
    divided by its largest value among the candidates, so a weight is a share, not a unit."""

    model_config = ConfigDict(extra="forbid")
    finish: Annotated[float, Field(ge=0, le=100)] = 1.0  # expected wait + runtime
    price: Annotated[float, Field(ge=0, le=100)] = 1.0  # the job's price there
    carbon: Annotated[float, Field(ge=0, le=100)] = 1.0  # its kg CO2e there
    data: Annotated[float, Field(ge=0, le=100)] = 1.0  # bytes of its data sets the site lacks


class FederationSettings(BaseModel):
    """Several AICC servers as one market (docs/federation.md). No `site`: federation off."""

    model_config = ConfigDict(extra="forbid")
    site: Annotated[str | None, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,30}$")] = None
    url: Annotated[str | None, Field(pattern=r"^https?://")] = None  # as peers reach this site
    jurisdiction: Annotated[str, Field(min_length=2, max_length=16)] = "CN"  # e.g. CN-GD
    key_file: Path | None = None  # Ed25519 private key; default $AICC_HOME/federation.key
    peers: list[FederationPeer] = Field(default_factory=list)
    advertise_interval_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    lost_after_s: Annotated[float, Field(gt=0)] = 120.0  # no advert this long: the site is lost
    weights: FederationWeights = Field(default_factory=lambda: FederationWeights())
    # organization name -> the sites its jobs may run on (this one included); absent: any
    org_sites: dict[str, list[str]] = Field(default_factory=dict)
    # a job spec without `placement`: local, or routed among the sites
    default_placement: Literal["local", "federation"] = "local"
    request_timeout_s: Annotated[float, Field(gt=0, le=120)] = 5.0
    # a job's outputs archive from a peer, downloaded and unpacked: at most this many MiB each
    max_outputs_mib: Annotated[int, Field(ge=1)] = 8192

    @model_validator(mode="after")
    def _complete(self) -> FederationSettings:
        if self.site is not None and self.url is None:
            raise ValueError("federation.url is required with federation.site")
        names = [p.site for p in self.peers]
        if len(set(names)) != len(names) or self.site in names:
            raise ValueError("federation.peers: each site once, and not this site itself")
        return self


class AgingSettings(BaseModel):
    """`aging`: how a waiting job's service level rises with its wait (scheduler/plugins/
    service.py `Ladder`): one level per `every_s` waited, at most `levels` levels."""

    model_config = ConfigDict(extra="forbid")
    every_s: Annotated[float, Field(gt=0, le=366 * 86400)] = 3600.0
    levels: Annotated[int | None, Field(ge=0, le=64)] = 2


class SiteEnvironment(BaseModel):
    """Software the operator offers jobs that run on the node's own system, as an HPC center's
    modules: directories shown read-only in the sandbox (`paths`: a virtual environment, a
    wheelhouse), the ones put first on PATH (`path`, each inside one of `paths`) and variables
    (`env`, e.g. PIP_NO_INDEX and PIP_FIND_LINKS for a pip without the internet). Tenants name
    none of it: a job gets one by the name the operator gave (docs/config.md)."""

    model_config = ConfigDict(extra="forbid")

    paths: list[str] = Field(default_factory=list, max_length=32)
    path: list[str] = Field(default_factory=list, max_length=32)
    env: dict[str, str] = Field(default_factory=dict, max_length=64)

    @model_validator(mode="after")
    def _absolute(self) -> SiteEnvironment:
        for place in (*self.paths, *self.path):
            if not place.startswith("/") or ".." in place.split("/") or place.rstrip("/") == "":
                raise ValueError(f"{place!r}: give an absolute directory without '..'")
        for entry in self.path:
            if not any(_within(entry, root) for root in self.paths):
                raise ValueError(
                    f"path {entry!r}: put it inside one of paths (the sandbox shows those)"
                )
        for name in self.env:
            if not name.replace("_", "A").isalnum() or name[0].isdigit() or name == "PATH":
                raise ValueError(f"env {name!r}: a variable name other than PATH (set path)")
            if name.startswith("AICC_"):
                raise ValueError(f"env {name!r}: AICC_ variables are the server's")
        return self


def _within(path: str, root: str) -> bool:
    path, root = os.path.normpath(path), os.path.normpath(root)
    return path == root or path.startswith(root.rstrip("/") + "/")


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    home: Path = Path("~/.aicc").expanduser()
    db: str | None = None  # None: SQLite in the home
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    # Server processes on the one socket (`aicc serve --workers`): one per core the API needs.
    workers: Annotated[int, Field(ge=1, le=64)] = 1
    executor: str = "local"
    # Replicas run confined by bubblewrap (docs/config.md): auto uses it where it works.
    sandbox: Literal["auto", "bwrap", "off"] = "auto"
    container: ContainerSettings = Field(default_factory=lambda: ContainerSettings())
    # What a sandboxed job reaches beyond its own network namespace (docs/config.md): `none`,
    # or `internet` (slirp4netns). The default of a job that does not say, and the most it may
    # ask. A template published by another organization runs with `none` unless its name is in
    # `egress_templates` (the operator's approval).
    egress: Literal["none", "internet"] = "none"
    egress_templates: list[str] = Field(default_factory=list)
    # Jobs of the local executor reach this server's S3 endpoint ($AICC_S3_ENDPOINT) through
    # its job socket, whatever their egress (docs/config.md, "The route to the S3 endpoint").
    job_s3_route: bool = True
    # Software environments the operator offers jobs on the node's own system (no image), by
    # name, and the one a job on a generic base image (a TES task's `python:3.12`) runs with
    # (docs/config.md, "Site environments").
    site_environments: dict[str, SiteEnvironment] = Field(default_factory=dict, max_length=64)
    generic_base_environment: str | None = None
    slurm: SlurmSettings = Field(default_factory=lambda: SlurmSettings())
    ray: RaySettings = Field(default_factory=lambda: RaySettings())
    kubernetes: KubernetesSettings = Field(default_factory=lambda: KubernetesSettings())
    # A scheduler profile: default, predicted, fifo, easy, las, spread, or one of `profiles`.
    policy: str = "default"
    # The site's own scheduler profiles by name (scheduler/profiles.py; docs/config.md).
    profiles: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # Aging the operator sets on the policy's service ladder: a waiting job comes up a level
    # for each `every_s` it has waited, at most `levels` (docs/config.md); None: the policy's.
    aging: AgingSettings | None = None
    node_name: str | None = None
    simulated_devices: list[SimulatedGroup] = Field(default_factory=list)
    limits: Limits = Field(default_factory=Limits)
    secret_key_file: Path | None = None  # default: $AICC_HOME/secret.key; share it between servers
    loop_interval_s: Annotated[float, Field(gt=0)] = 0.5
    # How long a dead leader on another host blocks scheduling (benchmarks/chaos.py --failover).
    lease_ttl_s: Annotated[float, Field(ge=2, le=300)] = 6.0
    # How long a server keeps who a token stands for: a token revoked, or a user disabled, on
    # another server is refused within this (on the same server at once). 0: read every time.
    token_cache_s: Annotated[float, Field(ge=0, le=60)] = 5.0
    site: SiteSettings = Field(default_factory=lambda: SiteSettings())
    data: DataSettings = Field(default_factory=lambda: DataSettings())  # data sets (§9)
    deployments: DeploymentSettings = Field(default_factory=lambda: DeploymentSettings())
    notebooks: NotebookSettings = Field(default_factory=lambda: NotebookSettings())
    reports: ReportSettings = Field(default_factory=lambda: ReportSettings())  # docs/reports.md
    oidc: OidcSettings = Field(default_factory=lambda: OidcSettings())  # single sign-on
    pricing: PricePlan = DEFAULT_PRICING  # the default, until an operator stores a plan
    gateway: GatewaySettings = Field(default_factory=lambda: GatewaySettings())
    federation: FederationSettings = Field(default_factory=lambda: FederationSettings())
    images: ImageSettings = Field(default_factory=lambda: ImageSettings())  # base images
    registry: RegistrySettings = Field(default_factory=lambda: RegistrySettings())  # images
    notify: NotifySettings = Field(default_factory=lambda: NotifySettings())  # notifications
    nodes: NodesSettings = Field(default_factory=lambda: NodesSettings())  # burn-in
    maintenance: MaintenanceSettings = Field(default_factory=lambda: MaintenanceSettings())
    leases: LeaseSettings = Field(default_factory=lambda: LeaseSettings())  # SLA credits
    # the center's facility meters over Modbus TCP: measured PUE per hour (docs/energy.md)
    meters: list[MeterSettings] = Field(default_factory=list, max_length=256)
    # the center as an OpenADR 2.0b VEN: demand-response events lower the site cap (docs/energy.md)
    openadr: OpenAdrSettings = Field(default_factory=lambda: OpenAdrSettings())
    # Behind HTTPS (here or at a proxy): cookies always Secure, and Strict-Transport-Security.
    tls: bool = False
    # Proxies (`10.0.0.5`, `10.0.0.0/8`) whose X-Forwarded-For names the client; none by default.
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)

    @field_validator("meters")
    @classmethod
    def _meters_named_once(cls, value: list[MeterSettings]) -> list[MeterSettings]:
        names = [m.name for m in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"meter names must be unique; given twice: {', '.join(twice)}")
        return value

    @model_validator(mode="after")
    def _site_environments(self) -> Settings:
        """A site environment shows none of the server's own: not its home (the database, the
        admin token), not its key file, not the data cache, nor a folder holding one."""
        private = [str(self.home.expanduser()), str(self.data.cache_dir or "")]
        private += [str(self.secret_key_file)] if self.secret_key_file else []
        for env_name, site in self.site_environments.items():
            for place in site.paths:
                for secret in filter(None, private):
                    if _within(place, secret) or _within(secret, place):
                        raise ValueError(
                            f"site_environments.{env_name}.paths: {place} would show the "
                            f"server's {secret} to jobs; give a directory apart from it"
                        )
        name = self.generic_base_environment
        if name is not None and name not in self.site_environments:
            known = ", ".join(sorted(self.site_environments)) or "none"
            raise ValueError(
                f"generic_base_environment {name!r}: name one of site_environments ({known})"
            )
        return self

    @model_validator(mode="after")
    def _registry_beside(self) -> Settings:
        """The embedded registry's address follows this server's port unless `registry.listen`
        says it: two servers on one host never share it by default."""
        if self.registry.listen is None:
            listen = f"127.0.0.1:{registry_port(self.port)}"
            self.registry = self.registry.model_copy(update={"listen": listen})
        return self


class _FromEnvironment(Settings, BaseSettings):
    """Settings with every field also read from `AICC_<FIELD>`, a nested one from
    `AICC_<SECTION>__<FIELD>` (`AICC_GATEWAY__READ_TIMEOUT_S=30`), lists and mappings as JSON
    (`AICC_TRUSTED_PROXIES='["10.0.0.0/8"]'`). Empty variables are ignored. `load` puts
    `config.yaml` below them and flags above (`_layered`)."""

    model_config = SettingsConfigDict(
        env_prefix="AICC_",
        env_nested_delimiter="__",
        env_ignore_empty=True,
        case_sensitive=False,
        extra="forbid",
    )


def _layered(from_file: dict[str, Any]) -> type[_FromEnvironment]:
    """The settings class for one load: flags over variables over `from_file`, each merged
    setting by setting into the one below."""

    class Layered(_FromEnvironment):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            file = InitSettingsSource(settings_cls, init_kwargs=from_file)
            return init_settings, env_settings, file

    return Layered


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
    given = {k: v for k, v in flags.items() if v is not None} | {"home": home}
    try:
        loaded = _layered(values)(**given)
    except SettingsError as err:  # a variable that is not JSON where a list or mapping goes
        raise ConfigError(
            f"AICC_* variables: {err} (a list or mapping is one JSON value)"
        ) from None
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"settings ({path}, AICC_* variables, flags): {problems}") from None
    return Settings.model_validate(loaded.model_dump())
