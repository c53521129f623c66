"""Run directories: what the executors whose replicas run from a directory share (local, Slurm,
Ray), so each engine only starts, observes and stops its replicas.

`BASE/JOB/ATTEMPT/REPLICA` holds the replica's working copy (`work/`, unpacked from the blob
store, with the checkpoint link), its 0600 environment file when the engine sources one, the
engine's script, the logs (`stdout.log`, `stderr.log`), the handle once launched (`launched`) and
a cancel request (cancel.py). `BASE/JOB` keeps the job's `outputs/` and `checkpoint/` across
attempts. The directory is on a file system the engine's nodes share, so a restarted server
rebuilds everything from a handle.

Launching is idempotent here, once for every engine: a recorded handle is returned as it is;
an engine whose start can be cut short before the handle is recorded finds its own (`_launched`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

from aicc.executors import container as containers
from aicc.executors import (
    containerfile,
    environment,
    ganglink,
    image_build,
    jobfiles,
    logfile,
    netns,
    serverroute,
    siteenv,
    workdir,
)
from aicc.executors.base import Executor, ReplicaLaunch, ReplicaState, Stream, Workdirs
from aicc.executors.datacache import DataCache, remove_view
from aicc.executors.sandbox import Sandbox, for_replica, write_resolv_conf

LAUNCHED_FILE = "launched"
LAUNCHING_LOCK = "launching.lock"  # held by whoever launches (not the engine's own lock file)
DATA = "data"  # the replica's read-only view of its data sets: $AICC_DATA_DIR


@dataclass(frozen=True)
class Run:
    """A replica's run directory made ready for its engine: the working copy, the whole
    environment, and what goes before the command to confine it."""

    dir: Path
    prepared: workdir.Prepared
    env: dict[str, str]
    sandbox: list[str]
    title: str  # for the script's first line: "AICC job J attempt A replica R"
    # A replica in its image (container.py): the node's pull, run before the command (its
    # failure is `image_unavailable`), the container's name and what removes it when left.
    pull: list[str] = field(default_factory=list)
    container: str | None = None
    remove: list[str] = field(default_factory=list)
    # What runs instead of the replica's argv (a build: podman build, then push)
    command: list[str] | None = None

    def write_env(self) -> Path:
        """The environment as the 0600 `env.sh` the engine's script sources (secrets then never
        stand on a command line or in the engine's own records)."""
        return environment.write_env(self.dir, self.env)


class RunDirExecutor(Executor):
    """An executor whose replicas run from run directories under `base_dir`."""

    passed_through: ClassVar[tuple[str, ...]] = environment.PASSED_THROUGH

    def __init__(
        self,
        *,
        base_dir: Path,
        blobs: Workdirs | None,
        sandbox: Sandbox | None,
        data: DataCache | None = None,
        homes_dir: Path | None = None,
        container: Callable[[], containers.Container | None] | None = None,
        route: serverroute.Route | None = None,
        environments: Mapping[str, siteenv.SiteEnvironment] | None = None,
    ) -> None:
        """`blobs`: where uploaded workdirs are read from (the server's blob store).
        `sandbox`: what confines replicas (None: nothing, they see what the server sees).
        `data`: the node data cache the spec's `datasets` are mounted from (None: refused).
        `homes_dir`: where persistent homes live, on every node alike (None: refused).
        `container`: the container runtime that runs replicas naming an image, asked at the
        first one (None, or it answers None: those replicas fail `image_unavailable`).
        `route`: the server's S3 endpoint as its jobs reach it (serverroute.py), where the
        server is on this machine (the local executor); None: no route.
        `environments`: the site environments by name (siteenv.py) replicas without an image
        may run with."""
        super().__init__()
        self.base_dir = base_dir
        self.blobs = blobs
        self.sandbox = sandbox
        self.data = data
        self.homes_dir = homes_dir
        self.container = container
        self.route = route
        self.environments = dict(environments or {})

    @property
    def gives_homes(self) -> bool:
        return self.homes_dir is not None

    @property
    def mounts_data(self) -> bool:
        return self.data is not None

    def job_dir(self, job_id: str) -> Path:
        return self.base_dir.absolute() / job_id

    def run_dir(self, replica: ReplicaLaunch) -> Path:
        return self.job_dir(replica.job_id) / str(replica.attempt) / str(replica.index)

    @abstractmethod
    def run_dir_of(self, handle: str) -> Path:
        """The run directory a handle names; ValueError for a handle not of this executor."""

    # ------------------------------------------------------------------ launch

    def _launch(self, replica: ReplicaLaunch) -> str:
        run_dir = self.run_dir(replica)
        run_dir.mkdir(parents=True, exist_ok=True)
        recorded = run_dir / LAUNCHED_FILE
        # One launch at a time per run directory, across processes: a server that lost the
        # lease may still be launching (acting happens outside the fenced transaction) when
        # the new leader launches the same replica; the second then finds the first's handle.
        with netns.exclusive(run_dir / LAUNCHING_LOCK):
            if recorded.exists():  # without a sandbox the job could make it a link or a FIFO
                with jobfiles.open_regular(recorded) as f:
                    return f.read(4096).decode("utf-8", errors="replace").strip()
            handle = self._launched(replica, run_dir)
            if handle is None:
                run = self._prepare(replica, run_dir)
                if run.command is not None:  # every engine runs `argv`: the build's, then
                    replica = replace(replica, argv=run.command)
                handle = self._start(replica, run)
            partial = run_dir / (LAUNCHED_FILE + ".partial")
            partial.write_text(handle + "\n")
            os.replace(partial, recorded)
            return handle

    def _prepare(self, replica: ReplicaLaunch, run_dir: Path) -> Run:
        """The working copy (unpacked once), the environment and the sandbox."""
        prepared = workdir.prepare(
            run_dir=run_dir,
            job_dir=self.job_dir(replica.job_id),
            blobs=self.blobs,
            workdir_sha256=replica.workdir_sha256,
            checkpoint_subdir=replica.checkpoint_subdir,
        )
        env = environment.engine_env(
            replica, self.passed_through, engine_devices=self.capabilities.picks_devices
        )
        env["AICC_OUTPUT_DIR"] = str(prepared.outputs)
        env["AICC_CHECKPOINT_DIR"] = str(prepared.checkpoints)
        env.update(environment.mlflow_env(str(prepared.outputs), replica.env))
        views: list[Path] = []
        if replica.datasets and self.data is not None:
            view = run_dir / DATA
            if not view.exists():
                self.data.mount(replica.datasets, view)
            env["AICC_DATA_DIR"] = str(view)
            views.append(view)
        home = self._home(replica)
        if home is not None:
            env["HOME"] = str(home)
        gpus = bool(replica.device_indices)
        if self.route is not None and replica.s3_route:  # inside its namespace, or directly
            confined = self.sandbox is not None or bool(replica.image)
            url = serverroute.endpoint(self.route.port) if confined else self.route.direct
            env[serverroute.ENDPOINT_ENV] = url
        if replica.build is not None:
            return self._building(replica, run_dir, prepared, env)
        if replica.image:
            return self._contained(replica, run_dir, prepared, env, views, home)
        shown = siteenv.apply(self.environments, replica.environment, env, replica.env)
        sandbox = for_replica(
            self.sandbox,
            prepared,
            env,
            gpus,
            [*views, *map(Path, shown)],
            home,
            run_dir=run_dir,
            egress=replica.egress,
        )
        if sandbox:
            sandbox = [*self._network(replica, env), *sandbox]
        title = f"AICC job {replica.job_id} attempt {replica.attempt} replica {replica.index}"
        return Run(run_dir, prepared, env, sandbox, title)

    def _contained(
        self,
        replica: ReplicaLaunch,
        run_dir: Path,
        prepared: workdir.Prepared,
        env: dict[str, str],
        views: list[Path],
        home: Path | None,
    ) -> Run:
        """A replica in its image: podman instead of the sandbox, in the job's network, after
        the node's pull. Without a container runtime the pull fails, saying so, and the
        command never runs on the host."""
        title = f"AICC job {replica.job_id} attempt {replica.attempt} replica {replica.index}"
        image = replica.image
        assert image is not None
        # per node: the run directories of Slurm and Ray are on a file system their nodes share
        lock_dir = self.base_dir.absolute() / containers.IMAGES_DIR
        if not self.capabilities.same_host:
            lock_dir /= hashlib.sha256(replica.node.encode()).hexdigest()[:16]
        unavailable = run_dir / containers.UNAVAILABLE_FILE
        unavailable.unlink(missing_ok=True)
        runtime = self.container() if self.container is not None else None
        if runtime is None:
            pull = containers.pull_argv("", image, lock_dir, unavailable=unavailable)
            return Run(run_dir, prepared, env, [], title, pull=pull)
        auth = None
        if replica.image_pull_token:
            auth = containers.write_auth(run_dir, image, replica.image_pull_token)
        network = self._network(replica, env)
        name = containers.container_name(replica.job_id, replica.attempt, replica.index)
        writable = [prepared.workdir, prepared.outputs, prepared.checkpoints]
        writable += [home] if home is not None else []
        argv = runtime.argv(
            name=name,
            image=image,
            writable=writable,
            cwd=prepared.workdir,
            env_names=[*env, *(["AICC_SERVICE_HOST"] if env.get("PORT") else [])],
            read_only=views,
            home=None if home is not None else env.get("HOME"),
            resolv_conf=write_resolv_conf(run_dir, replica.egress),
            gpus=bool(replica.device_indices),
            cpu_milli=replica.cpu_milli,
            memory_mib=replica.memory_mib,
        )
        return Run(
            run_dir,
            prepared,
            env,
            [*network, *argv],
            title,
            pull=runtime.pull_argv(image, lock_dir, auth, unavailable),
            container=name,
            remove=runtime.remove_argv(name),
        )

    def _building(
        self, replica: ReplicaLaunch, run_dir: Path, prepared: workdir.Prepared, env: dict[str, str]
    ) -> Run:
        """A build (container.py): the center's images it names pulled into its project's build
        storage in the node's network, then podman build in the job's own network namespace and
        in the build's sandbox (`Sandbox.build_argv`), then the push; the Containerfile read
        from the working copy (the job's: no link followed) with its images as resolved at
        submit. Without a container runtime or a sandbox, or with a Containerfile that no longer
        names what was checked, it fails `image_unavailable` saying why, and nothing is built."""
        build = replica.build
        assert build is not None
        title = f"AICC job {replica.job_id} attempt {replica.attempt} replica {replica.index}"
        unavailable = run_dir / containers.UNAVAILABLE_FILE
        unavailable.unlink(missing_ok=True)
        runtime = self.container() if self.container is not None else None
        problem = None if runtime is not None else "this node has no container runtime (podman)"
        if problem is None and self.sandbox is None:
            problem = "builds run in the sandbox (bubblewrap), and this node has none"
        resolved = run_dir / image_build.BUILD_FILE
        if problem is None:
            try:
                files = jobfiles.JobFiles(prepared.workdir, label="workdir")
                with files.capped(containerfile.MAX_CONTAINERFILE_BYTES).open(
                    build.containerfile
                ) as f:
                    text = containerfile.read_containerfile(f.read())
                resolved.write_text(containerfile.rewrite(text, build.from_images))
            except (OSError, jobfiles.Refused, containerfile.BadContainerfile) as err:
                problem = f"build.containerfile {build.containerfile}: {err}"
        if runtime is None or self.sandbox is None or problem is not None:
            pull = image_build.refuse_argv(f"the build cannot run: {problem}", unavailable)
            return Run(run_dir, prepared, env, [], title, pull=pull)
        auth = containers.write_auth(run_dir, build.target, build.token) if build.token else None
        storage = self.build_storage(replica)
        cgroup = image_build.build_cgroup(replica.job_id, replica.attempt, replica.index)
        argv = image_build.build_argv(
            runtime,
            storage=storage,
            containerfile=resolved,
            context=prepared.workdir,
            target=build.target,
            cpu_milli=replica.cpu_milli,
            memory_mib=replica.memory_mib,
            egress=replica.egress,
            cgroup=cgroup,
        )
        center = containers.registry_of(build.target)
        pulls = [
            image_build.pull_into_argv(runtime, storage, image, auth)
            for image in sorted(set(build.from_images.values()))
            if containers.registry_of(image) == center
        ]
        confine = [
            *self._network(replica, env),
            *self.sandbox.build_argv(
                writable=[storage, containers.runroot(storage)],
                read_only=[prepared.workdir, resolved],
                resolv_conf=write_resolv_conf(run_dir, replica.egress),
            ),
        ]
        push = image_build.push_argv(runtime, build.target, auth, storage)
        command = image_build.builder_argv(
            argv, push, auth, cgroup, pulls=pulls, confine=confine, storage=storage
        )
        return Run(run_dir, prepared, env, [], title, command=command)

    def build_storage(self, replica: ReplicaLaunch) -> Path:
        """The build storage of the replica's project (`BASE/.builds/PROJECT`, 0700): its
        images, layer cache and temporary directory, shared by its builds alone."""
        project = replica.labels.get("aicc.io/project") or "unknown"
        if not project.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"project id {project!r} cannot name a directory")
        builds = self.base_dir.absolute() / image_build.BUILDS_DIR
        builds.mkdir(mode=0o700, parents=True, exist_ok=True)
        storage = builds / project
        storage.mkdir(mode=0o700, exist_ok=True)
        containers.runroot(storage).mkdir(mode=0o700, parents=True, exist_ok=True)
        return storage

    def _network(self, replica: ReplicaLaunch, env: dict[str, str]) -> list[str]:
        """What joins the job attempt's own network namespace on its node (netns.py), for a
        sandboxed replica: every replica, those of its gang on the same node sharing it. A gang
        meets on the namespace's loopback (MASTER_ADDR 127.0.0.1) where it is on one node
        (AICC_GANG_NODES 1) or the executor's nodes are all this machine; a gang over several
        nodes (Slurm, Ray) on its gang link (ganglink.py): MASTER_ADDR is node rank 0's
        `gang0` (10.254.0.1), the rendezvous' MASTER_ADDR (node rank 0's node address) and
        AICC_GANG_LINK_PORT where the nodes' relays meet, the attempt's key written here before
        the handle is recorded; GLOO/NCCL/TP_SOCKET_IFNAME name `gang0` unless the job did
        (the node's hostname resolves to no address of the namespace). A listening replica
        ($PORT) of this machine is reached through a Unix socket in its run directory
        (`netns.service_socket`), elsewhere on TCP at its node's address with its token."""
        job_dir = self.job_dir(replica.job_id)
        gang = int(env.get("WORLD_SIZE") or 1) > 1
        link = None
        if gang and env.get("AICC_GANG_NODES") != "1" and not self.capabilities.same_host:
            link = self._link(replica, env)
        else:
            env["MASTER_ADDR"] = "127.0.0.1"  # the job's own loopback: all it has on this node
        if "PET_RDZV_BACKEND" in env:  # an elastic job's torchrun meets where MASTER_ADDR is
            env["PET_RDZV_ENDPOINT"] = f"{env['MASTER_ADDR']}:{env['MASTER_PORT']}"
            env["PET_LOCAL_ADDR"] = _agent_address(env, link is not None)
        port = env.get("PORT")
        forward = f"{env.get('AICC_SERVICE_HOST') or '127.0.0.1'}:{port}" if port else None
        node = None if self.capabilities.same_host else replica.node  # all this machine
        directory = netns.net_dir(job_dir, replica.attempt, node)
        socket_path = None
        if forward and self.capabilities.same_host:
            # Reached by the server alone, through a Unix socket: made before the handle is
            # recorded, so whoever reads the handle knows how to reach it (services/endpoints).
            socket_path = netns.service_socket(self.run_dir(replica))
            socket_path.parent.mkdir(mode=0o700, exist_ok=True)
            socket_path.parent.chmod(0o700)
        token = None  # elsewhere, on TCP: answering its token alone, written before the handle
        if forward and socket_path is None:
            token = netns.make_token(netns.service_token(self.run_dir(replica)))
        route = None
        if self.route is not None and replica.s3_route:
            route = (self.route.port, self.route.socket)
        return netns.prefix(
            directory,
            egress=replica.egress,
            forward=forward,
            socket_path=socket_path,
            token_file=token,
            link=link,
            route=route,
        )

    def _link(self, replica: ReplicaLaunch, env: dict[str, str]) -> netns.Link:
        """This replica's node on its gang's link; MASTER_ADDR and the socket variables set."""
        port = env.get("AICC_GANG_LINK_PORT")
        if not port:  # bound by a server from before the gang link
            raise ValueError("a gang over several nodes needs AICC_GANG_LINK_PORT: run it again")
        key = netns.link_key(self.job_dir(replica.job_id), replica.attempt)
        ganglink.write_key(key)
        link = netns.Link(int(env.get("NODE_RANK") or 0), f"{env['MASTER_ADDR']}:{port}", key)
        env["MASTER_ADDR"] = ganglink.hub_address()
        for name in ("GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME", "TP_SOCKET_IFNAME"):
            env.setdefault(name, ganglink.DEVICE)
        return link

    def _home(self, replica: ReplicaLaunch) -> Path | None:
        """The replica's persistent home, made on first use (0700): `homes_dir/PROJECT/USER`."""
        if replica.home is None or self.homes_dir is None:
            return None
        parts = Path(replica.home).parts
        if len(parts) != 2 or any(p in (".", "..") or "/" in p for p in parts):
            raise ValueError(f"home {replica.home!r} is not PROJECT/USER")
        home = self.homes_dir.absolute() / replica.home
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        return home

    def _launched(self, replica: ReplicaLaunch, run_dir: Path) -> str | None:
        """The handle of a start the engine has but the run directory did not record (the
        server stopped in between), or None: then `_start` runs."""
        return None

    @abstractmethod
    def _start(self, replica: ReplicaLaunch, run: Run) -> str:
        """Hand the prepared replica to the engine; returns its handle."""

    def image_outcome(self, run_dir: Path, state: ReplicaState) -> ReplicaState:
        """A replica that failed because its image could not be pulled on its node (the
        script's pull wrote why, container.py) is `image_unavailable`, saying why."""
        if state.phase != "exited" or state.reason in ("succeeded", "cancelled"):
            return state
        try:
            with jobfiles.open_regular(run_dir / containers.UNAVAILABLE_FILE) as f:
                why = f.read(4096).decode("utf-8", errors="replace").strip()
        except (FileNotFoundError, jobfiles.Refused):
            return state
        return replace(state, reason="image_unavailable", message=why)

    # ------------------------------------------------------------------ files

    def outputs_dir(self, job_id: str, handle: str | None = None) -> Path | None:
        job_dir = self.run_dir_of(handle).parents[1] if handle else self.job_dir(job_id)
        return job_dir / workdir.OUTPUTS

    def purge(self, job_id: str, *, logs: bool) -> None:
        """Working copies and data views go when the job ends (the upload stays in the blob
        store, the data in the node's cache); with `logs`, the run directories. Outputs stay."""
        for attempt in sorted(self.job_dir(job_id).glob("[0-9]*")):
            for replica in attempt.glob("[0-9]*"):
                shutil.rmtree(replica / workdir.WORK, ignore_errors=True)
                (replica / containers.AUTH_FILE).unlink(missing_ok=True)  # a pull that never ran
                remove_view(replica / DATA)
            if logs:
                shutil.rmtree(attempt, ignore_errors=True)

    def _logs(self, handle: str, stream: Stream, tail_bytes: int | None) -> str:
        """The log the engine appends to in the run directory (Slurm's `--output`, Ray's entry
        script)."""
        return logfile.read(self.run_dir_of(handle) / f"{stream}.log", tail_bytes)

    def _log_size(self, handle: str, stream: Stream) -> int:
        return logfile.size(self.run_dir_of(handle) / f"{stream}.log")


def _agent_address(env: dict[str, str], linked: bool) -> str:
    """Where an elastic job's torchrun agent says it is. torchrun tells its agents apart by
    address and pid, and every sandbox's agent has the same pid in its own pid namespace: on
    one node each replica takes its own loopback address (all of 127/8 is the namespace's),
    127.0.0.1 for replica 0; across nodes, its node's gang-link address (one replica a node)."""
    if linked:
        return ganglink.address(int(env.get("NODE_RANK") or 0))
    index = int(env.get("AICC_REPLICA") or 0)
    return f"127.{index // 62500}.{index // 250 % 250}.{index % 250 + 1}"
