"""A build job's command lines (`kind: build`): the podman build, the pulls before it and the
push after, all run on the node by container.py's script (`builder_argv`).

A build (`build_argv`) is a job like any other: its podman runs in the job's network namespace and
in a sandbox of its own (sandbox.py, `Sandbox.build_argv`), which shows it the system's
directories, the build's context and Containerfile (read-only) and its project's build storage, and
nothing else of this machine: not the node's podman storage (every image that ever ran here), not
the control plane's files, not another project's builds, nor the host's processes (a pid namespace:
no /proc/1/root). Its storage (`--root`, `--runroot`, the layer cache) and its temporary directory
(where buildah keeps `RUN --mount=type=cache`) are its project's alone, under the executor's run
directories (`BUILDS_DIR/PROJECT`): the next build of the same steps in that project says "Using
cache", another project's never sees them. The images of the center registry the Containerfile
names are pulled into that storage first, in the node's network, with the launch's credential (the
registry says per tenant who may have them), and the build then pulls nothing it does not find
there but through the job's network, where its egress applies (`--pull=missing`): so whatever
buildah's own parse makes of the file (a transport such as `containers-storage:` or `oci:`
included), it reaches only what its tenant may read. RUN steps run in containers with every
capability dropped (podman build takes no `no-new-privileges`), in the job's CPU and memory limits,
on the job's network (`host`: its own namespace) with egress `internet`, on none without. The push
follows (`podman push`, node's network) with a 0600 auth file that holds the credential (push of
the target, pull of the FROM images), removed after; the sandbox never shows it. The FROM images as
written are replaced by what the server resolved at submit (`containerfile.rewrite`), and a
Containerfile whose instructions could be read two ways is refused before
(`containerfile.images_of`: parser directives, a byte-order mark, control characters, a transport).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from aicc.executors.container import (
    SELF_ARGV,
    Container,
    container_name,
    registry_of,
    storage_args,
)

BUILD_FILE = "Containerfile.aicc"  # RUN_DIR/Containerfile.aicc: the FROMs resolved
BUILDS_DIR = ".builds"  # BASE/.builds/PROJECT: a project's build storage, cache and tmp


def build_argv(
    container: Container,
    *,
    storage: Path,
    containerfile: Path,
    context: Path,
    target: str,
    cpu_milli: int = 0,
    memory_mib: int = 0,
    egress: str = "none",
    cgroup: str | None = None,
) -> list[str]:
    """`podman build` of `target` from `context` in the project's `storage`: RUN steps on the
    job's network with egress (`host`: its namespace), on none without, without capabilities,
    in the job's limits, in the cgroup `cgroup` (`build_cgroup`: what a cancel kills,
    `_clean_build`). It holds no credential: the center's images it names were pulled into the
    storage before (`pull_into_argv`), and what it misses it pulls through the job's network."""
    args = [container.podman, *storage_args(storage), "--runtime", container.runtime, "build"]
    args += ["--isolation", "oci", "--network", "host" if egress == "internet" else "none"]
    # podman build refuses `no-new-privileges`; with every capability out of the bounding set
    # a set-user-ID program gains none either
    args += ["--cap-drop", "all", "--layers", "--pull=missing"]
    args += ["--cgroup-parent", cgroup] if cgroup else []
    if memory_mib > 0:
        args += ["--memory", f"{memory_mib}m", "--memory-swap", f"{memory_mib}m"]
    if cpu_milli > 0:
        args += ["--cpu-period", "100000", "--cpu-quota", str(cpu_milli * 100)]
    for limit, soft, hard in container.ulimits:
        args += ["--ulimit", f"{limit}={soft}:{hard}"]
    return [*args, "--file", str(containerfile), "--tag", target, str(context)]


def pull_into_argv(
    container: Container, storage: Path, image: str, authfile: Path | None
) -> list[str]:
    """`podman pull` of an image of the center registry into the project's build storage, in
    the node's network (where the registry is), with the launch's credential."""
    args = [container.podman, *storage_args(storage), "pull", "--quiet"]
    args += ["--authfile", str(authfile)] if authfile is not None else []
    args += ["--tls-verify=false"] if registry_of(image) in container.insecure else []
    return [*args, "--", image]


def push_argv(
    container: Container, target: str, authfile: Path | None, storage: Path | None = None
) -> list[str]:
    """`podman push` of what the build tagged (in `storage`), to its registry."""
    args = [container.podman, *(storage_args(storage) if storage else []), "push"]
    args += ["--authfile", str(authfile)] if authfile is not None else []
    args += ["--tls-verify=false"] if registry_of(target) in container.insecure else []
    return [*args, "--", target]


def build_cgroup(job_id: str, attempt: int, index: int) -> str:
    """The cgroup (under every hierarchy's root, cgroupfs) of a build's RUN steps: its own, so
    that what a cancel leaves running is found and killed there."""
    return f"/{container_name(job_id, attempt, index)}-build"


def builder_argv(
    build: Sequence[str],
    push: Sequence[str],
    authfile: Path | None,
    cgroup: str | None = None,
    *,
    pulls: Sequence[Sequence[str]] = (),
    confine: Sequence[str] = (),
    storage: Path | None = None,
) -> list[str]:
    """`python -I -S container.py build`: the `pulls` into the build's storage, the build in
    `confine` (the job's network and the build's sandbox), the push, then the auth file gone
    (and, with `cgroup`, whatever the build left behind: `_clean_build`)."""
    argv = [*SELF_ARGV, "build", "--push", json.dumps(list(push))]
    argv += ["--pulls", json.dumps([list(p) for p in pulls])] if pulls else []
    argv += ["--confine", json.dumps(list(confine))] if confine else []
    argv += ["--storage", str(storage)] if storage is not None else []
    argv += ["--authfile", str(authfile)] if authfile is not None else []
    argv += ["--cgroup", cgroup] if cgroup else []
    return [*argv, "--", *build]


def refuse_argv(message: str, unavailable: Path) -> list[str]:
    """What stands where a pull would: says `message` as a failed pull does (the replica ends
    `image_unavailable` with it), for a build that cannot run."""
    return [*SELF_ARGV, "refuse", "--unavailable", str(unavailable), "--", message]
