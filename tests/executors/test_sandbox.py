"""Replicas in the bubblewrap sandbox: a job of one tenant sees nothing of the home, the server or
another tenant's job (local executor here; Slurm in test_slurm.py), secrets do not stay on disk,
and the home is the server account's alone. Real server, real bwrap, real jobs."""

from __future__ import annotations

import fnmatch
import subprocess
import time
from itertools import pairwise
from pathlib import Path

import httpx
import pytest

import aicc
from aicc.config import Settings
from aicc.executors import netns, sandbox
from aicc.executors.environment import base_env
from aicc.executors.local import runtime
from aicc.sdk.workdir import pack_workdir
from aicc.testing import isolation
from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import in_process

REPO = Path(__file__).resolve().parents[2]


def test_a_job_of_tenant_b_reads_nothing_of_the_home_or_tenant_a(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with in_process(home) as (api, _state):
        breach = isolation.attempt(api, home, tmp_path / "scratch")
        try:
            assert breach.job_b["state"] == "succeeded", breach.job_b
            lines = breach.log.splitlines()
            for what, path in breach.targets.items():
                if what in ("runs", "blobs"):
                    continue
                assert f"DENIED {path}" in lines, (what, breach.log)
            # Its own job is all B finds under the home's runs; no upload at all.
            runs = next(line for line in lines if line.startswith(f"READ {home / 'runs'}:"))
            assert runs.split(": ", 1)[1] == breach.job_b["id"], breach.log
            assert f"DENIED {home / 'blobs'}" in lines, breach.log
            assert "wrote own output" in lines, breach.log
            for what, text in breach.forbidden.items():
                assert text not in breach.log, (what, breach.log)

            # A runs: its secret is nowhere under the home (launch.json kept only names).
            assert isolation.files_holding(home, breach.secret) == []
            launch = runtime.read_json(
                home / "runs" / breach.job_a["id"] / "0" / "0" / "launch.json"
            )
            assert launch is not None and launch["env"] is None
            assert "A_KEY" in launch["env_names"]

            # The home and what the server wrote in it are the server account's alone.
            job_dir = home / "runs" / breach.job_a["id"]
            blobs = [p for p in (home / "blobs").rglob("*") if p.is_file()]
            private = [home, home / "aicc.db", home / "admin.token", home / "secret.key"]
            private += [home / "runs", job_dir, job_dir / "0" / "0", *blobs]
            assert blobs and isolation.open_to_others(private) == []
        finally:
            api.post(f"/api/v1/jobs/{breach.job_a['id']}/cancel")
            wait_state(api, breach.job_a["id"], {"cancelled", "failed"})


def test_a_job_in_the_sandbox_keeps_its_grace_on_cancel(tmp_path: Path) -> None:
    """SIGTERM reaches the command, not the sandbox: a job that traps it finishes its handler
    (the outer bwrap would otherwise die and take the sandbox with it)."""
    with in_process(tmp_path / "home", limits={"grace_s": 10.0}) as (api, _state):
        command = (
            "trap 'sleep 1; echo saved > \"$AICC_OUTPUT_DIR/saved\"; exit 0' TERM; "
            "echo up; sleep 60 & wait"
        )
        job = submit(api, {"command": command, "resources": {"cpu": 0.5, "memory": "128MiB"}})
        wait_state(api, job["id"], {"running"})
        outputs = tmp_path / "home" / "runs" / job["id"] / "outputs"
        deadline = time.monotonic() + 30
        while "up" not in api.get(f"/api/v1/jobs/{job['id']}/logs").text:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        api.post(f"/api/v1/jobs/{job['id']}/cancel")
        wait_state(api, job["id"], {"cancelled"})
        assert (outputs / "saved").read_text() == "saved\n"


def test_a_job_in_the_sandbox_cannot_kill_its_supervisor(tmp_path: Path) -> None:
    """Issue 16: `kill -9 $PPID`, three times, cordoned the node. In the sandbox the job's
    parent is the sandbox's own init, which nothing inside can kill, and the supervisor is not
    in its PID namespace at all: the job runs to its end and is billed as usual."""
    with in_process(tmp_path / "home") as (api, _state):
        command = "kill -9 $PPID; kill -9 -1; sleep 0.5; echo still here"
        job = submit(api, {"command": command, "resources": {"cpu": 0.5, "memory": "128MiB"}})
        done = wait_state(api, job["id"], {"succeeded", "failed"})
        assert (done["state"], done["attempt"]) == ("succeeded", 0), done
        assert api.get(f"/api/v1/jobs/{job['id']}/logs").text == "still here\n"


def upload(api: httpx.Client, root: Path) -> str:
    """`root` as an uploaded workdir; its digest."""
    packed = pack_workdir(root)
    answer = api.post(
        "/api/v1/workdirs",
        content=packed.path.read_bytes(),
        headers={"X-Content-SHA256": packed.sha256},
    )
    packed.path.unlink()
    assert answer.status_code in (200, 201), answer.text
    return packed.sha256


def test_the_example_training_runs_as_a_two_replica_gang_in_the_sandbox(tmp_path: Path) -> None:
    """PyTorch's DDP over gloo, each rank in its own sandbox, meeting at MASTER_ADDR."""
    with in_process(tmp_path / "home") as (api, state):
        assert state.executors["local"].sandbox is not None  # type: ignore[attr-defined]
        spec = {
            "command": ["python", "train.py", "--epochs", "2", "--samples", "512"],
            "workdir_sha256": upload(api, REPO / "examples" / "train-mlp"),
            "replicas": 2,
            "resources": {"cpu": 0.5, "memory": "1GiB"},
        }
        done = wait_state(api, submit(api, spec)["id"], {"succeeded", "failed"}, timeout=300)
        assert done["state"] == "succeeded", done
        for rank in (0, 1):
            log = api.get(f"/api/v1/jobs/{done['id']}/logs", params={"replica": rank}).text
            assert f"rank {rank} of 2" in log, log


def test_sandbox_bwrap_without_bubblewrap_stops_the_server_and_off_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap here
    with pytest.raises(sandbox.SandboxUnavailable, match="bubblewrap"):
        sandbox.detect("bwrap")
    assert sandbox.detect("auto") is None
    from aicc.config import ConfigError
    from aicc.server import make_sandbox

    with pytest.raises(ConfigError, match="sandbox: bwrap was asked for"):
        make_sandbox(Settings(home=tmp_path, sandbox="bwrap"))
    assert make_sandbox(Settings(home=tmp_path, sandbox="auto")) is None
    assert "RUN WITHOUT A SANDBOX" in caplog.text


def test_the_sandbox_hides_machine_secrets_and_keeps_the_network(tmp_path: Path) -> None:
    """/etc/shadow and a site secret read empty, no host process is in /proc, $HOME is empty
    and private, and the network namespace is the host's (a gang meets over it)."""
    (tmp_path / "site.key").write_text("site-key-canary")
    found = sandbox.detect("bwrap", hide=[str(tmp_path / "site.key")])
    assert found is not None
    work = tmp_path / "work"
    work.mkdir()
    script = (
        'echo "shadow=$(cat /etc/shadow 2>/dev/null | wc -c) key=$(cat "$KEY")"; '
        'echo "pids=$(ls /proc | grep -c "^[0-9]")"; '
        'echo "home=$(ls -A "$HOME" | wc -l) cwd=$(pwd)"; '
        'echo "net=$(cat /proc/net/dev | grep -c :)"'
    )
    home = tmp_path / "home"  # the account's, holding what the replica must not see
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("private key")
    argv = [*found.argv(writable=[work], cwd=work, home=str(home)), "/bin/sh", "-c", script]
    env = {"PATH": "/usr/bin:/bin", "KEY": str(tmp_path / "site.key"), "HOME": str(home)}
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=True)
    got = dict(field.split("=", 1) for field in out.stdout.split())
    assert (got["shadow"], got["key"], got["home"], got["cwd"]) == ("0", "", "0", str(work))
    assert int(got["pids"]) <= 5, out.stdout  # bwrap's init and the shell's: none of the host's
    host_links = Path("/proc/net/dev").read_text().count(":")
    assert int(got["net"]) == host_links, out.stdout


def test_a_replica_resolves_names_through_its_own_network_alone(tmp_path: Path) -> None:
    """Issue 35: a sandboxed replica read the host's /etc/resolv.conf (here `nameserver
    10.255.255.53`, elsewhere 127.0.0.53), addresses its own network cannot reach. With egress
    `internet` it now names slirp4netns's resolver alone; with egress `none`, no resolver."""
    host = Path("/etc/resolv.conf").read_text()
    show = "grep -E '^(nameserver|search|domain)' /etc/resolv.conf || echo NONE"
    with in_process(tmp_path / "home", egress="internet") as (api, _state):
        found = {}
        for egress in ("internet", "none"):
            spec = {"command": show, "egress": egress, "resources": {"cpu": 0.25}}
            job = submit(api, spec)
            done = wait_state(api, job["id"], {"succeeded", "failed"}, timeout=120)
            log = api.get(f"/api/v1/jobs/{job['id']}/logs").text
            assert done["state"] == "succeeded", (done, log)
            found[egress] = log.splitlines()
    assert found["internet"] == [f"nameserver {netns.SLIRP_DNS}"], (found, host)
    assert found["none"] == ["NONE"], (found, host)


def test_the_replicas_resolv_conf_goes_where_the_hosts_link_points(tmp_path: Path) -> None:
    """Under systemd-resolved /etc/resolv.conf is a link into /run/systemd/resolve: bwrap mounts
    over a link's target and finds an absolute one only where it exists, so the replica's file
    is bound over the target; a host without one gets none (/etc is read-only there)."""
    target = tmp_path / "run" / "stub-resolv.conf"
    target.parent.mkdir()
    target.write_text("nameserver 127.0.0.53\n")
    (tmp_path / "absolute").symlink_to(target)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "plain").write_text("nameserver 192.0.2.53\n")
    assert sandbox.resolver_place(str(tmp_path / "absolute")) == str(target)
    assert sandbox.resolver_place(str(tmp_path / "plain")) == str(tmp_path / "plain")
    assert sandbox.resolver_place(str(tmp_path / "dangling")) is None
    assert sandbox.resolver_place(str(tmp_path / "missing")) is None
    box = sandbox.Sandbox(bwrap="/usr/bin/bwrap", system=(), resolv_place=str(target))
    argv = box.argv(writable=[], cwd="/", resolv_conf=tmp_path / "mine")
    at = argv.index(str(tmp_path / "mine"))
    assert argv[at - 1 : at + 2] == ["--ro-bind", str(tmp_path / "mine"), str(target)]
    nowhere = sandbox.Sandbox(bwrap="/usr/bin/bwrap", system=(), resolv_place=None)
    assert "--ro-bind" not in nowhere.argv(writable=[], cwd="/", resolv_conf=tmp_path / "mine")


def test_the_command_line_binds_only_the_replicas_paths_writable_and_hides_before_binding() -> None:
    """The pure builder: system dirs read-only, secrets and the home hidden before the replica's
    own paths are bound over them, the devices only for a replica given GPUs, signals reset."""
    box = sandbox.Sandbox(
        bwrap="/usr/bin/bwrap",
        system=(("/usr", None), ("/bin", "usr/bin")),
        hidden_files=("/etc/shadow",),
        hidden_dirs=("/srv/aicc",),
        runtimes=("/opt/venv",),
        devices=("/dev/nvidia0",),
    )
    work = "/srv/aicc/runs/job_1/0/0/work"
    argv = box.argv(writable=[work, "/srv/aicc/runs/job_1/outputs"], cwd=work, home="/home/u")
    pairs = list(pairwise(argv))
    assert argv[:3] == ["/usr/bin/env", f"--ignore-signal={sandbox.STOP_SIGNALS}", "/usr/bin/bwrap"]
    assert argv[-2:] == ["/usr/bin/env", f"--default-signal={sandbox.STOP_SIGNALS}"]
    assert ("--ro-bind-try", "/usr") in pairs and ("--symlink", "usr/bin") in pairs
    assert ("--ro-bind", "/opt/venv") in pairs and ("--tmpfs", "/home/u") in pairs
    binds = [argv[i + 1] for i, a in enumerate(argv) if a == "--bind"]
    assert binds == [work, "/srv/aicc/runs/job_1/outputs"]  # the only writable host paths
    assert argv.index("/srv/aicc") < argv.index("--bind")  # hidden first, then bound over
    assert "--dev-bind-try" not in argv and "/dev/nvidia0" not in argv
    assert ("--unshare-pid", "--unshare-ipc") in pairs and "--die-with-parent" in argv
    gpus = box.argv(writable=[work], cwd=work, gpus=True)
    assert ("--dev-bind-try", "/dev/nvidia0") in pairwise(gpus)
    # A $HOME in a system directory is not covered (it would hide the system).
    system_home = box.argv(writable=[], cwd="/", home="/usr/lib")
    assert ("--tmpfs", "/usr/lib") not in pairwise(system_home)


def test_a_source_checkouts_aicc_package_alone_is_shown_read_only() -> None:
    """Run from a checkout (as the tests are), a replica's `python` finds `aicc` through
    PYTHONPATH; the sandbox shows that package, read-only and only where it exists."""
    package = Path(aicc.__file__).resolve().parent
    assert sandbox.packages() == (str(package),)
    assert base_env()["PYTHONPATH"] == str(package.parent)
    box = sandbox.Sandbox(bwrap="/usr/bin/bwrap", system=(), packages=sandbox.packages())
    argv = box.argv(writable=["/srv/work"], cwd="/srv/work")
    assert ("--ro-bind-try", str(package)) in pairwise(argv)
    assert str(package.parent) not in argv  # not the checkout's tests, docs or .git


def test_an_older_open_home_is_closed_at_start(tmp_path: Path) -> None:
    """A home an earlier version left 0755 with a 0644 database and token is 0700/0600 once the
    server has started, and what it writes from then on is private too."""
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    for name in ("aicc.db", "admin.token"):
        (home / name).touch()
        (home / name).chmod(0o644)
    with in_process(home) as (api, _state):
        assert api.get("/healthz").status_code == 200
        written = [home / "secret.key", home / "blobs"]
        assert (
            isolation.open_to_others([home, home / "aicc.db", home / "admin.token", *written]) == []
        )


def test_every_vendors_device_nodes_are_shown_to_a_replica_given_devices() -> None:
    """Ascend's and Cambricon's control nodes are in the list a replica given devices is shown,
    and their numbered nodes are found by the same patterns as NVIDIA's."""
    assert {"/dev/davinci_manager", "/dev/cambricon_ctl", "/dev/kfd"} <= set(sandbox.GPU_DEVICES)
    patterns = [pattern.rsplit("/", 1)[1] for pattern in sandbox.NUMBERED_DEVICES]
    for name in ("nvidia0", "davinci7", "cambricon_dev3"):
        assert any(fnmatch.fnmatch(name, p) for p in patterns), name
    assert not any(fnmatch.fnmatch("davinci_manager", p) for p in patterns)
