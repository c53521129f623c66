"""The container command line (aicc/executors/container.py), pure: what a replica in its image
is given of this machine, and the scripts Slurm and Ray run it from."""

from __future__ import annotations

from pathlib import Path

import pytest

from aicc.executors import container as containers
from aicc.executors.ray import entry
from aicc.executors.slurm import batch

BOX = containers.Container(
    podman="/usr/bin/podman",
    runtime="/usr/sbin/runc",
    user="1000:1000",
    ulimits=(("nofile", 1024, 4096), ("nproc", 100, 200)),
    devices=("/dev/null",),  # present everywhere, as a GPU node's would be
    insecure=("127.0.0.1:5000",),
)


def _argv(**changes: object) -> list[str]:
    given: dict[str, object] = {
        "name": "aicc-job_1-1-0",
        "image": "registry.example/a/b:1",
        "writable": ["/runs/j/1/0/work", "/runs/j/outputs"],
        "cwd": "/runs/j/1/0/work",
        "env_names": ["FOO", "SECRET", "PATH", "PYTHONPATH", "HOME"],
        "memory_mib": 512,
        "cpu_milli": 1500,
    }
    given.update(changes)
    return BOX.argv(**given)  # type: ignore[arg-type]


def _pairs(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == flag]


def test_the_image_comes_last_after_a_double_dash_so_no_option_hides_in_it() -> None:
    argv = _argv(image="--privileged")
    assert argv[-2:] == ["--", "--privileged"]
    assert argv[:5] == ["/usr/bin/podman", "--runtime", "/usr/sbin/runc", "run", "--name"]


def test_limits_privileges_and_network() -> None:
    argv = _argv()
    assert _pairs(argv, "--memory") == ["512m"] and _pairs(argv, "--memory-swap") == ["512m"]
    assert _pairs(argv, "--cpus") == ["1.5"]
    assert _pairs(argv, "--cap-drop") == ["all"]
    assert _pairs(argv, "--security-opt") == ["no-new-privileges"]
    assert _pairs(argv, "--network") == ["host"]  # the job's own namespace, netns.py's
    assert _pairs(argv, "--pids-limit") == [str(containers.PIDS_LIMIT)]
    assert _pairs(argv, "--ulimit") == ["nofile=1024:4096", "nproc=100:200"]
    assert _pairs(argv, "--user") == ["1000:1000"]
    assert _pairs(argv, "--pull") == ["never"]  # the node's pull ran before, once
    assert "--init" in argv and "--rm" in argv


def test_no_request_no_limit_flag() -> None:
    argv = _argv(memory_mib=0, cpu_milli=0)
    assert "--memory" not in argv and "--cpus" not in argv


def test_the_environment_goes_by_name_only_and_host_paths_stay_out() -> None:
    argv = _argv()
    names = _pairs(argv, "-e")
    assert names == ["TMPDIR=/tmp", "FOO", "HOME", "SECRET"]
    assert not any("=" in n for n in names[1:])  # no value on the command line


def test_binds_are_the_sandboxs_own_and_nothing_else() -> None:
    argv = _argv(
        read_only=["/runs/j/1/0/data"], resolv_conf="/runs/j/1/0/resolv.conf", home="/home/u"
    )
    mounts = _pairs(argv, "--mount")
    assert mounts == [
        "type=bind,source=/runs/j/1/0/resolv.conf,destination=/etc/resolv.conf,ro=true",
        "type=bind,source=/runs/j/1/0/work,destination=/runs/j/1/0/work",
        "type=bind,source=/runs/j/outputs,destination=/runs/j/outputs",
        "type=bind,source=/runs/j/1/0/data,destination=/runs/j/1/0/data,ro=true",
    ]
    assert _pairs(argv, "--tmpfs") == [
        "/tmp:rw,mode=1777",
        "/dev/shm:rw,mode=1777",
        "/home/u:rw,mode=0700",
    ]
    assert "-v" not in argv and "--volume" not in argv
    assert _pairs(argv, "--workdir") == ["/runs/j/1/0/work"]


def test_gpu_devices_only_when_given() -> None:
    assert "--device" not in _argv()
    assert _pairs(_argv(gpus=True), "--device") == ["/dev/null"]


def test_a_path_with_a_comma_is_refused() -> None:
    with pytest.raises(ValueError, match="comma"):
        _argv(writable=["/runs/a,b"])


@pytest.mark.parametrize(
    ("ref", "moving", "registry"),
    [
        ("busybox", True, None),
        ("library/busybox:latest", True, None),
        ("127.0.0.1:5000/org/p/img:1", False, "127.0.0.1:5000"),
        ("127.0.0.1:5000/org/p/img", True, "127.0.0.1:5000"),
        ("localhost/img:2", False, "localhost"),
        ("reg.example/x@sha256:" + "a" * 64, False, "reg.example"),
    ],
)
def test_references(ref: str, moving: bool, registry: str | None) -> None:
    assert containers.moving_tag(ref) is moving
    assert containers.registry_of(ref) == registry


def test_the_pull_skips_tls_only_for_registries_marked_insecure(tmp_path: Path) -> None:
    secure = BOX.pull_argv("reg.example/a:1", tmp_path)
    plain = BOX.pull_argv("127.0.0.1:5000/a:1", tmp_path, tmp_path / "auth.json")
    assert "--insecure" not in secure and "--insecure" in plain
    assert plain[-2:] == ["--", "127.0.0.1:5000/a:1"]
    assert plain[plain.index("--authfile") + 1] == str(tmp_path / "auth.json")


def test_the_pull_credential_is_a_0600_file_for_its_registry_alone(tmp_path: Path) -> None:
    path = containers.write_auth(tmp_path, "127.0.0.1:5000/org/a:1", "u:s3cret")
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_text()
    assert "127.0.0.1:5000" in text and "s3cret" not in text  # base64, never in argv
    with pytest.raises(ValueError, match="no registry"):
        containers.write_auth(tmp_path, "busybox", "t")


def test_a_pull_without_podman_says_so_and_removes_the_credential(tmp_path: Path) -> None:
    auth = containers.write_auth(tmp_path, "reg.example/a:1", "t")
    why = containers.pull("", "reg.example/a:1", tmp_path / "locks", authfile=auth)
    assert why is not None and "no container runtime" in why
    assert not auth.exists()


def test_slurm_and_ray_scripts_pull_first_and_remove_the_container_after(tmp_path: Path) -> None:
    pull = BOX.pull_argv("reg.example/a:1", tmp_path)
    remove = BOX.remove_argv("aicc-job_1-1-0")
    env = tmp_path / "env.sh"
    slurm = batch.write_script(
        tmp_path, ["echo", "hi"], env, "t", ["podman", "run"], pull=pull, remove=remove
    ).read_text()
    ray = entry.write_script(
        tmp_path, ["echo", "hi"], "t", ["podman", "run"], pull=pull, remove=remove
    ).read_text()
    for text in (slurm, ray):
        assert f"|| exit {containers.UNAVAILABLE_EXIT}" in text
        assert text.index("container.py pull") < text.index("podman run echo hi")
        assert "trap 'kill -TERM $child" in text
        assert text.rstrip().endswith("exit $rc")
        assert "/usr/bin/podman rm --force --ignore" in text
    bare = batch.write_script(tmp_path, ["echo", "hi"], env, "t").read_text()
    assert "pull" not in bare and bare.rstrip().endswith("exec echo hi")


def test_a_reference_that_is_no_reference_is_never_handed_to_podman(tmp_path: Path) -> None:
    for ref in ("--help", "a b", "x;rm", "UPPER/x:1", ""):
        why = containers.pull("/usr/bin/podman", ref, tmp_path)
        assert why is not None and "not an image reference" in why


def test_the_pull_runs_on_the_standard_library_alone(tmp_path: Path) -> None:
    """As netns.py: `python -I -S container.py`, so a start pays no `import aicc`."""
    import subprocess

    argv = BOX.pull_argv("reg.example/a:1", tmp_path)
    assert argv[1:3] == ["-I", "-S"] and argv[3].endswith("aicc/executors/container.py")
    done = subprocess.run([*argv[:4], "pull", "--help"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_rootless_server_keeps_its_own_uid_inside() -> None:
    import dataclasses

    assert "--userns" not in _argv()
    rootless = dataclasses.replace(BOX, rootless=True)
    argv = rootless.argv(name="n", image="i", writable=[], cwd="/w", env_names=[])
    assert _pairs(argv, "--userns") == ["keep-id"]
