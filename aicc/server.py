"""Start AICC: open (and migrate) the database, bootstrap the tenancy tree, register this
machine's node, start the control loops, serve the API and the portal.

`build()` makes the whole server without a socket, so tests and `aicc serve` share one path.
The server is the one place that knows every floor: it builds the engines and the loops, hands
them to the API as services name them (`AppState`), and mounts the API and the portal.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI

from aicc import config, portal
from aicc.api.app import create_app
from aicc.api.state import AppState
from aicc.core.energy import EnergyProfile, ProfileError
from aicc.executors import container as containers
from aicc.executors import netns, serverroute
from aicc.executors import sandbox as sandboxes
from aicc.executors.base import Executor
from aicc.executors.datacache import DataCache
from aicc.executors.local import rapl
from aicc.executors.local.executor import LocalExecutor
from aicc.executors.local.node import SimulatedDevices
from aicc.executors.siteenv import SiteEnvironment
from aicc.gateway import counted
from aicc.loops import wakes
from aicc.loops.bmc import Bmcs
from aicc.loops.books import Books
from aicc.loops.burn_in import BurnIn
from aicc.loops.controller import GREEN_HORIZON_H, Controller, Operations, Setup, holder_name
from aicc.loops.federation import Federation
from aicc.loops.lease import Lease
from aicc.loops.meters import Meters
from aicc.loops.notify import Notify
from aicc.loops.openadr import Ven
from aicc.registry_process import Supervised
from aicc.registry_process import start as registry_start
from aicc.scheduler.profiles import get_profile, with_aging
from aicc.services.billing.energy import load_profile
from aicc.services.billing.meter import PowerModel
from aicc.services.center import power
from aicc.services.data.mounts import StoredData
from aicc.services.images.images import Pulls, center_of
from aicc.services.jobs import devenvs
from aicc.services.nodes import node_health
from aicc.services.serving import autoscaling, deployments
from aicc.services.tenancy import tenancy, tokens
from aicc.store.blobs import BlobStore
from aicc.store.chunkstore import ChunkStore
from aicc.store.db import Database, open_database
from aicc.store.s3 import open_chunk_store
from aicc.store.sealing import Sealer
from aicc.store.tables.tenancy import UserRow

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger("aicc")
# not settings: how a worker (`worker_app`) reaches the loops of the process that started it
WAKE_PORT, LOOPS_PID, LOOPS_METRICS_PORT = (
    "AICC_WAKE_PORT",
    "AICC_LOOPS_PID",
    "AICC_LOOPS_METRICS_PORT",
)


@dataclass
class ServerState(AppState):
    """The state as the server holds it: the API sees the loops as a `Control`; the server
    (and the test harness) also starts and stops them."""

    controller: Controller


def make_sandbox(settings: config.Settings) -> sandboxes.Sandbox | None:
    """The sandbox replicas run in; without one (`sandbox: off`, or `auto` where bubblewrap is
    missing) a loud warning: every job can then read the home, the database and other jobs."""
    hide = [settings.home, *([settings.secret_key_file] if settings.secret_key_file else [])]
    hide += [settings.data.cache_dir] if settings.data.cache_dir else []  # no job reads the cache
    try:
        found = sandboxes.detect(settings.sandbox, hide=hide)
    except sandboxes.SandboxUnavailable as err:
        raise config.ConfigError(str(err)) from None
    if found is None and settings.executor != "kubernetes":
        log.warning(
            "REPLICAS RUN WITHOUT A SANDBOX (sandbox: %s): jobs can read %s, the admin token, "
            "the database and other tenants' jobs; install bubblewrap (Debian: bubblewrap)",
            settings.sandbox,
            settings.home,
        )
    return found


def make_container(settings: config.Settings) -> Callable[[], containers.Container | None]:
    """What runs replicas that name an image: podman, found at the first such replica (a
    trial container takes a second); the embedded registry's http address pulled without TLS."""
    insecure = list(settings.container.insecure_registries)
    address = settings.registry.address()
    if address.startswith("http://"):
        insecure.append(address.removeprefix("http://").split("/")[0])
    mode, found = settings.container.runtime, tuple(dict.fromkeys(insecure))
    if mode == "podman":  # asked for: a server that cannot have it does not start
        try:
            containers.detected(mode, found)
        except containers.ContainerUnavailable as err:
            raise config.ConfigError(str(err)) from None

    def detect() -> containers.Container | None:
        try:
            return containers.detected(mode, found)
        except containers.ContainerUnavailable as err:
            log.error("%s", err)
            return None

    return detect


def make_data_cache(settings: config.Settings, db: Database, chunks: ChunkStore) -> DataCache:
    """This node's data cache (`data.cache_dir`, `data.cache_gib`), filled from the server's
    data sets; replicas see their own data sets through it, read-only."""
    root = settings.data.cache_dir or settings.home / "cache" / "data"
    capacity = int(settings.data.cache_gib * 1024**3)
    return DataCache(root, capacity, StoredData(db, chunks))


def make_executors(
    settings: config.Settings, blobs: BlobStore, data: DataCache | None = None
) -> dict[str, Executor]:
    """The executor of the default pool (`--executor`); engines' SDKs load only when chosen.
    `data`: the node data cache that jobs' `datasets` are mounted from (run-directory engines)."""
    sandbox = None if settings.executor == "kubernetes" else make_sandbox(settings)
    container = make_container(settings)
    if settings.executor == "slurm":
        from aicc.executors.slurm import SlurmCommands, SlurmExecutor

        slurm = settings.slurm
        conf = slurm.conf or (
            Path(os.environ["SLURM_CONF"]) if os.environ.get("SLURM_CONF") else None
        )
        executor = SlurmExecutor(
            base_dir=settings.home / "slurm-runs",
            blobs=blobs,
            commands=SlurmCommands(slurm_conf=conf),
            partition=slurm.partition,
            placement=slurm.placement,
            simulated=slurm.simulated_gpus,
            default_model=slurm.default_model,
            account=slurm.account,
            grace_s=settings.limits.grace_s,
            sandbox=sandbox,
            data=data,
            container=container,
            environments=site_environments(settings),
        )
        return {"slurm": executor}
    if settings.executor == "ray":
        from aicc.executors.ray import RayExecutor

        ray = settings.ray
        return {
            "ray": RayExecutor(
                address=ray.address,
                base_dir=ray.runs_dir or settings.home / "ray-runs",
                blobs=blobs,
                cluster=ray.cluster,
                pool=ray.pool,
                simulated=ray.simulated_gpus,
                default_model=ray.default_model,
                grace_s=settings.limits.grace_s,
                timeout_s=ray.request_timeout_s,
                sandbox=sandbox,
                data=data,
                container=container,
                environments=site_environments(settings),
            )
        }
    if settings.executor == "kubernetes":
        from aicc.executors.kubernetes import build

        return {
            "kubernetes": build(settings.kubernetes, blobs=blobs, grace_s=settings.limits.grace_s)
        }
    if settings.executor != "local":
        raise config.ConfigError(
            f"executor {settings.executor!r} is not available; "
            "use 'local', 'slurm', 'ray' or 'kubernetes'"
        )
    local = LocalExecutor(
        home=settings.home,
        blobs=blobs,
        node_name=settings.node_name,
        simulated=[SimulatedDevices(g.model, g.count) for g in settings.simulated_devices],
        log_limit_bytes=settings.limits.log_limit_mib * 1024 * 1024,
        grace_s=settings.limits.grace_s,
        sandbox=sandbox,
        data=data,
        container=container,
        route=job_route(settings),
        environments=site_environments(settings),
    )
    return {"local": local}


def site_environments(settings: config.Settings) -> dict[str, SiteEnvironment]:
    """`site_environments` as the executors take them (siteenv.py)."""
    return {
        name: SiteEnvironment(tuple(e.paths), tuple(e.path), tuple(e.env.items()))
        for name, e in settings.site_environments.items()
    }


def job_route(settings: config.Settings) -> serverroute.Route | None:
    """The route by which the local executor's jobs reach this server's S3 endpoint
    (`job_s3_route`): its port, its job socket (`listen_for_jobs`) and its own URL for a job
    on the machine's network; None where it is off or jobs run elsewhere."""
    if not settings.job_s3_route or settings.executor != "local":
        return None
    path = serverroute.socket_path(settings.home, settings.port)
    return serverroute.Route(settings.port, path, local_url(settings) + "/s3")


@dataclass(frozen=True)
class JobSocket:
    """The job socket as this server bound it: closed and its file removed at the end, unless
    another server bound the path since (its file is then another inode)."""

    sock: socket.socket
    path: Path
    inode: int

    def close(self) -> None:
        with contextlib.suppress(OSError), netns.reachable(self.path) as short:
            if os.stat(short).st_ino == self.inode:
                os.unlink(short)
        self.sock.close()


def listen_for_jobs(settings: config.Settings) -> JobSocket | None:
    """The job socket (`job_route`), bound: 0600 in a 0700 directory of the server's home,
    which no sandbox shows; only the holders of the jobs' namespaces (the server's account,
    outside the sandbox) connect to it. uvicorn serves it beside the TCP address, and the
    app's gate answers the S3 routes alone there (`api/jobroute.py`)."""
    route = job_route(settings)
    if route is None:
        return None
    route.socket.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    sock = netns.listen_unix(str(route.socket))
    with netns.reachable(route.socket) as short:
        return JobSocket(sock, route.socket, os.stat(short).st_ino)


def ensure_admin_token(state: ServerState) -> Path | None:
    """First start, or a deleted token file: write an admin token to `$AICC_HOME/admin.token`."""
    path = state.settings.home / "admin.token"
    with state.db.session() as session:
        created = tenancy.bootstrap(session)
        if created is None and path.exists():
            return None
        admin = created or session.query(UserRow).filter(UserRow.name == "admin").one_or_none()
        if admin is None:
            return None
        _, secret = tokens.issue(session, None, user_id=admin.id, name="admin.token")
    tenancy.write_secret_file(path, secret + "\n")
    return path


def register_nodes(state: ServerState) -> None:
    state.controller.discover()
    for executor in state.executors.values():
        log.info("executor %s: %s", executor.name, getattr(executor, "note", "") or "ready")


def energy_profile(settings: config.Settings) -> EnergyProfile | None:
    """The site's energy profile (`site.energy_profile`, from $AICC_HOME when relative), or
    None. A profile that cannot be used stops the server with what to fix."""
    path = settings.site.energy_profile
    if path is None:
        return None
    path = path.expanduser()
    try:
        return load_profile(path if path.is_absolute() else settings.home / path)
    except ProfileError as err:
        raise config.ConfigError(f"site.energy_profile: {err}") from None


def site_power(settings: config.Settings, profile: EnergyProfile | None) -> power.Site:
    """What the scheduler learns of the site each pass: its carbon forecast and power cap,
    with the meter's power model (`site` settings)."""
    site = settings.site
    return power.Site(
        standing_kw=site.power_cap_kw,
        pue=site.pue,
        idle_fraction=site.idle_power_fraction,
        utilization=site.assumed_utilization,
        core_w=site.cpu_core_w,
        profile=profile,
        horizon_h=GREEN_HORIZON_H,
        forecast=carbon_forecast(settings),
    )


def carbon_forecast(settings: config.Settings) -> power.CarbonForecast | None:
    """The operator's day-ahead carbon forecast file (`site.carbon_forecast`), or None. Not
    read here: a file that is missing or stale now may be written by the next cron run."""
    path = settings.site.carbon_forecast
    if path is None:
        return None
    path = path.expanduser()
    max_age = timedelta(hours=settings.site.carbon_forecast_max_age_h)
    return power.CarbonForecast(path if path.is_absolute() else settings.home / path, max_age)


def books(
    settings: config.Settings, db: Database, lease: Lease, profile: EnergyProfile | None = None
) -> Books:
    """Metering, budget alerts and utilization samples (docs/billing.md)."""
    site = settings.site
    return Books(
        db,
        lease,
        zone=site.timezone,
        power=PowerModel.of_site(site, profile),
        pricing=settings.pricing,
        sample_every=timedelta(seconds=site.sample_interval_s),
        rapl=rapl.Rapl() if settings.nodes.bmc.rapl else None,
        rapl_node=settings.node_name or socket.gethostname(),
    )


def private_home(home: Path) -> None:
    """The home and all the server writes in it are its account's alone: 0700 directories and
    0600 files from here on (umask), and the home and its database closed on an older install."""
    os.umask(0o077)
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    for name in ("aicc.db", "aicc.db-wal", "aicc.db-shm", "admin.token", "secret.key"):
        with contextlib.suppress(FileNotFoundError):
            (home / name).chmod(0o600)


def use_catalog(settings: config.Settings) -> None:
    """The development environments' catalog in force (`images.catalog`, else the one that
    ships): a broken one stops the server with the reason."""
    try:
        devenvs.configure(settings.images.catalog, settings.home)
    except ValueError as err:
        raise config.ConfigError(f"images.catalog: {err}") from None


def image_pulls(settings: config.Settings) -> Pulls | None:
    """The center registry's pull credentials for jobs in its images; None without one."""
    registry = settings.registry
    return Pulls(registry, settings.home) if center_of(registry) is not None else None


def burn_in_step(
    settings: config.Settings, blobs: BlobStore, executors: dict[str, Executor]
) -> BurnIn:
    """The nodes' burn-in step (docs/burn-in.md): on every server, since an operator may send
    any node through one; `nodes.burn_in.enabled` says whether new nodes join in burn-in."""
    same_host = frozenset(n for n, e in executors.items() if e.capabilities.same_host)
    return BurnIn(settings.nodes.burn_in, blobs, same_host)


def build(settings: config.Settings) -> tuple[FastAPI, ServerState]:
    """The whole server, loops built but not started: the API at `/api/v1`, the portal at `/`."""
    private_home(settings.home)
    db = open_database(settings.db, settings.home)
    limits = settings.limits
    blobs = BlobStore(
        settings.home / "blobs",
        max_unpacked_bytes=limits.max_unpacked_mib * 1024 * 1024,
        max_members=limits.max_workdir_files,
    )
    chunks = open_chunk_store(settings.data, settings.home)
    executors = make_executors(settings, blobs, make_data_cache(settings, db, chunks))
    for name in settings.profiles:  # every profile the site wrote, used or not, must build
        try:
            get_profile(name, settings.profiles)
        except ValueError as err:
            raise config.ConfigError(f"profiles.{name}: {err}") from None
    try:
        profile = get_profile(settings.policy, settings.profiles)
    except ValueError as err:
        raise config.ConfigError(f"policy: {err}") from None
    if settings.aging is not None:
        try:
            profile = with_aging(profile, settings.aging.every_s, settings.aging.levels)
        except ValueError as err:
            raise config.ConfigError(str(err)) from None
    energy = energy_profile(settings)
    use_catalog(settings)
    sealer = Sealer.from_file(settings.secret_key_file or settings.home / "secret.key")
    concurrency = autoscaling.Concurrency()  # what the gateway counts, what the autoscaler reads
    controller = Controller(
        db,
        executors,
        sealer=sealer,
        holder=holder_name(),
        setup=Setup(
            profile=profile,
            log_retention=timedelta(days=settings.limits.log_retention_days),
            upload_expiry=timedelta(hours=settings.data.upload_expiry_h),
            books=lambda lease: books(settings, db, lease, energy),
            health=node_health.Policy(
                failures=settings.limits.node_failures_to_cordon,
                window=timedelta(hours=settings.limits.node_failure_window_h),
            ),
            chunks=chunks,
            energy=energy,
            site=site_power(settings, energy),
            serving=deployments.Policy.of(settings),
            concurrency=concurrency,
            cull_every=timedelta(seconds=settings.notebooks.check_interval_s),
            pulls=image_pulls(settings),
            operations=Operations(
                notice_s=settings.maintenance.notice_s,
                burn_in=burn_in_step(settings, blobs, executors),
                notify=Notify(settings.notify),
                bmc=Bmcs(settings.nodes.bmc),
                meters=Meters(settings.meters) if settings.meters else None,
            ),
        ),
        interval_s=settings.loop_interval_s,
        lease_ttl_s=settings.lease_ttl_s,
    )
    if settings.openadr.vtn_url is not None:
        controller.openadr = Ven(
            db, settings.openadr, leading=lambda: controller.leading, site=controller.site
        )
    if settings.federation.site is not None:
        controller.federation = Federation(
            db, settings, leading=lambda: controller.leading, energy=energy
        )
    state = ServerState(
        settings=settings,
        db=db,
        blobs=blobs,
        executors=executors,
        controller=controller,
        sealer=sealer,
        chunks=chunks,
        concurrency=concurrency,
    )
    ensure_admin_token(state)
    register_nodes(state)
    app = create_app(state)
    portal.install(app)  # web pages at `/`, their files at `/static`; the API is unchanged
    return app, state


# Where this server is, for the CLI on this machine when AICC_SERVER is unset (sdk/auth.py's
# SERVER_URL_FILE): a server on any port is found as its admin.token is, by its home alone.
SERVER_URL_FILE = "server.url"


def local_url(settings: config.Settings) -> str:
    """This server's URL as a client on the same machine reaches it."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    return f"http://{host}:{settings.port}"


def write_url(settings: config.Settings) -> Path:
    """`$AICC_HOME/server.url`: this server's URL, for the CLI (see SERVER_URL_FILE)."""
    path = settings.home / SERVER_URL_FILE
    path.write_text(local_url(settings) + "\n", encoding="utf-8")
    return path


def forget_url(settings: config.Settings) -> None:
    """Remove server.url at the end, unless another server of the same home wrote its own."""
    path = settings.home / SERVER_URL_FILE
    try:
        if path.read_text(encoding="utf-8").strip() == local_url(settings):
            path.unlink()
    except FileNotFoundError:
        pass


def start_registry(settings: config.Settings) -> Supervised | None:
    """The embedded center registry (`registry.embedded`), told to ask this server for tokens
    and to send it its notifications; None where it is off or not installed."""
    return registry_start(settings.home, settings.registry, aicc_url=local_url(settings))


def uvicorn_config(app: FastAPI, host: str, port: int, log_level: str) -> uvicorn.Config:
    """How uvicorn serves the app. It must not rewrite the client's address from
    X-Forwarded-For (by default it believes 127.0.0.1): the app does that itself, only for the
    configured `trusted_proxies` (`api.deps.client_address`). Its access log is off: the app's
    request log says what needs attention (`api.http_metrics`)."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level.lower(),
        proxy_headers=False,
        access_log=False,  # the app keeps its own request log (api/http_metrics.py)
    )


def serve(
    *,
    host: str | None = None,
    port: int | None = None,
    home: Path | None = None,
    db_url: str | None = None,
    executor: str | None = None,
    policy: str | None = None,
    workers: int | None = None,
    log_level: str = "info",
) -> None:
    """Run until interrupted. Blocking."""
    import uvicorn

    _log_to_stderr(log_level)
    flags = {"host": host, "port": port, "db": db_url, "executor": executor, "policy": policy}
    settings = config.load(home, workers=workers, **flags)
    if settings.workers > 1:
        _serve_workers(settings, flags, log_level)
        return
    app, state = build(settings)
    embedded = start_registry(settings)  # before the loops: a taken address stops the start
    freeze_heap()
    state.controller.start()
    url = f"http://{settings.host}:{settings.port}"
    log.info(
        "AICC %s on %s (database: %s, home: %s)", "serving", url, state.db.dialect, settings.home
    )
    log.info("admin token: %s", settings.home / "admin.token")
    log.info("the CLI here finds this server by %s", write_url(settings))
    # at the app's shutdown: uvicorn raises a SIGTERM again once it has stopped, and the
    # process ends before `finally` runs
    app.router.on_shutdown.append(lambda: forget_url(settings))
    served = uvicorn_config(app, settings.host, settings.port, log_level)
    jobs = None
    try:
        sockets = None  # uvicorn binds the address itself, as ever, without a job socket
        if job_route(settings) is not None:
            sockets = [served.bind_socket()]  # first: a taken address stops here, before the
            jobs = listen_for_jobs(settings)  # job socket of the server that holds it is touched
            if jobs is not None:
                sockets.append(jobs.sock)
                app.router.on_shutdown.append(jobs.close)  # (as forget_url, above)
        uvicorn.Server(served).run(sockets)
    finally:
        if jobs is not None:
            jobs.close()
        forget_url(settings)
        if embedded is not None:
            embedded.stop()
        state.controller.stop()
        state.db.dispose()


def freeze_heap() -> None:
    """What startup built (modules, the app and its routes, the ORM's mappings) lives as long as
    the server: set it aside from the garbage collector, so its full collections walk only what
    requests make (about 5 % of a submit's server time, measured with and without)."""
    gc.collect()
    gc.freeze()


def _end_with(parent: int) -> None:
    """Stop this worker (gracefully, as on SIGTERM) once its parent is gone."""
    while os.getppid() == parent:
        time.sleep(1.0)
    log.error("the server's first process (pid %d) is gone: this worker stops", parent)
    os.kill(os.getpid(), signal.SIGTERM)


def _log_to_stderr(log_level: str) -> None:
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _serve_workers(settings: config.Settings, flags: Mapping[str, object], log_level: str) -> None:
    """`workers` processes share one listening socket and serve the API and the portal; this
    process, which starts them, runs the loops (the lease lets one server's lead, as several
    servers on one database do). A process is bound by its interpreter lock to one core: the
    workers use the machine's cores, and a scheduling pass never holds the lock a request waits
    for. This process readies the home first (migrations, the first admin token), so the
    workers do not race to, then watches them and starts again one that dies."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    _, state = build(settings)
    embedded = start_registry(settings)  # before the loops: a taken address stops the start
    freeze_heap()
    listener = wakes.Listener(state.controller.wake)
    os.environ["AICC_HOME"] = str(settings.home)
    os.environ["AICC_LOG_LEVEL"] = log_level  # not a setting: `serve`'s flag, for `worker_app`
    os.environ[WAKE_PORT] = str(listener.port)
    os.environ[LOOPS_PID] = str(os.getpid())
    os.environ[LOOPS_METRICS_PORT] = str(state.controller.timings.serve())
    counts = settings.home / "run" / "metrics"  # the workers' counters, summed (gateway/counted.py)
    shutil.rmtree(counts, ignore_errors=True)
    counts.mkdir(parents=True)
    os.environ[counted.SHARED] = str(counts)
    for name, value in flags.items():
        if value is not None:
            os.environ[f"AICC_{name.upper()}"] = str(value)
    workers = uvicorn.Config(
        "aicc.server:worker_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=log_level.lower(),
        proxy_headers=False,  # as `uvicorn_config` says
        access_log=False,  # as `uvicorn_config` says
    )
    log.info(
        "AICC serving on http://%s:%s with %d workers (database: %s, home: %s)",
        settings.host,
        settings.port,
        settings.workers,
        state.db.dialect,
        settings.home,
    )
    listener.start()
    state.controller.start()
    log.info("the CLI here finds this server by %s", write_url(settings))
    jobs = None
    try:
        sockets = [workers.bind_socket()]  # first, as in `serve`
        jobs = listen_for_jobs(settings)
        Multiprocess(workers, sockets=sockets + ([jobs.sock] if jobs else [])).run()
    finally:
        if jobs is not None:
            jobs.close()
        forget_url(settings)
        if embedded is not None:
            embedded.stop()
        listener.close()
        state.controller.stop()
        state.db.dispose()


def worker_app() -> FastAPI:
    """One worker of `_serve_workers`, in its own process: the settings from the AICC_*
    variables its parent set. Its controller only shares the gateway's load and wakes the
    parent's loops; it ends when its parent does, which would otherwise leave it serving an API
    whose jobs nothing schedules."""
    _log_to_stderr(os.environ.get("AICC_LOG_LEVEL", "info"))
    parent = int(os.environ[LOOPS_PID])  # not getppid(): it may be gone already
    app, state = build(config.load(None))
    state.controller.apart(
        wakes.Sender(int(os.environ[WAKE_PORT])), parent, int(os.environ[LOOPS_METRICS_PORT])
    )
    threading.Thread(target=_end_with, args=(parent,), name="aicc-parent", daemon=True).start()
    freeze_heap()
    app.router.on_startup.append(state.controller.start)
    app.router.on_shutdown.append(state.controller.stop)
    app.router.on_shutdown.append(state.db.dispose)
    return app
