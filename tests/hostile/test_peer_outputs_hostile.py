"""Issue 35: a federation peer's outputs archive is as hostile as a job's bytes. The home site
unpacked whatever the peer sent (`tar.extractall` with the `data` filter, the whole answer held in
memory): links, a cut-short stream, a NUL in a name and a bomb past any size were taken.

On 96613b0 every refusal below was taken: the symlink and the hard link unpacked (the data filter
allows links inside the folder), the cut-short gzip raised an unhandled EOFError each pass, the
NUL name was cut to `ok.txt`, the bomb unpacked whole, and the 32 MiB answer was held in memory
and unpacked; the loop test's job ended without a word about its outputs.

The archives are real tar.gz files built here; the loop test runs a real home server (in this
process) against a hostile peer: a small HTTP server playing the peer's API, as another center
that means harm would.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aicc.services.common import utcnow
from aicc.services.federation import dispatch, signing
from aicc.testing.polling import wait
from aicc.testing.servers import in_process

MiB = 1024 * 1024


def _tar(add: Callable[[tarfile.TarFile], None]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        add(tar)
    return gzip.compress(raw.getvalue())


def _file(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _link(tar: tarfile.TarFile, name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    tar.addfile(info)


def _good(tar: tarfile.TarFile) -> None:
    _file(tar, "model/weights.bin", b"w" * 1000)
    _file(tar, "metrics.json", b"{}")


def _nul_name() -> bytes:
    """A member whose stored name is `ok.txt\\0/../../escape` (tarfile would cut it at NUL)."""
    info = tarfile.TarInfo("placeholder")
    info.size, info.mode = 1, 0o644
    block = bytearray(info.tobuf(format=tarfile.USTAR_FORMAT))
    block[0:100] = b"ok.txt\0/../../escape".ljust(100, b"\0")
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return gzip.compress(bytes(block) + b"x".ljust(512, b"\0") + b"\0" * 1024)


HOSTILE = {
    "symlink": (lambda t: _link(t, "home", "/etc"), "is a link"),
    "hard link": (
        lambda t: (_file(t, "a.txt", b"a"), _link(t, "b.txt", "a.txt", tarfile.LNKTYPE)),
        "is a link",
    ),
    "dot-dot": (lambda t: _file(t, "../../escaped.txt", b"x"), "contains '..'"),
    "absolute": (lambda t: _file(t, "/tmp/escaped.txt", b"x"), "absolute"),
    "bomb": (lambda t: _file(t, "zeros.bin", bytes(3 * MiB)), "byte limit"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_outputs_archive_is_refused_and_leaves_nothing(tmp_path: Path, kind: str) -> None:
    build, why = HOSTILE[kind]
    where = tmp_path / "mirror" / "job"
    where.mkdir(parents=True)
    good = tmp_path / "good.tar.gz"
    good.write_bytes(_tar(_good))
    dispatch.keep_outputs(where, good, max_bytes=2 * MiB)
    assert (where / "outputs" / "model" / "weights.bin").read_bytes() == b"w" * 1000
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(_tar(build))
    assert len(bad.read_bytes()) < 64 * 1024  # the bomb too: 3 MiB of zeros, a few KiB sent
    with pytest.raises(dispatch.OutputsRefused, match=why):
        dispatch.keep_outputs(where, bad, max_bytes=2 * MiB)
    # the outputs kept before are still there, whole; nothing else was written anywhere
    assert sorted(p.relative_to(where).as_posix() for p in where.rglob("*")) == [
        "outputs",
        "outputs/metrics.json",
        "outputs/model",
        "outputs/model/weights.bin",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tar.gz", "good.tar.gz", "mirror"]


def test_cut_short_many_members_and_nul_names_are_refused(tmp_path: Path) -> None:
    where = tmp_path / "job"
    where.mkdir()
    whole = _tar(_good)
    cases = {
        "cut short": (whole[: len(whole) - 9], "cut short"),
        "many": (_tar(lambda t: [_file(t, f"f{i}", b"") for i in range(120)]), "limit of 100"),
        "nul": (_nul_name(), "NUL byte"),
    }
    for name, (data, why) in cases.items():
        archive = tmp_path / f"{name}.tar.gz"
        archive.write_bytes(data)
        with pytest.raises(dispatch.OutputsRefused, match=why):
            # the guard's count of entries (100,000) made small, to stay quick
            dispatch.keep_outputs(where, archive, max_bytes=MiB, max_entries=100)
        assert list(where.iterdir()) == [], name


class HostilePeer:
    """A peer site's API as a center that means harm serves it: it takes the routed job, says
    it succeeded, and answers its outputs with `outputs` (sent without a length when
    `chunked`)."""

    def __init__(self, outputs: bytes, chunked: bool = False) -> None:
        self.outputs, self.chunked = outputs, chunked
        self.sent = 0
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: object) -> None:
                pass

            def _json(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/api/v1/jobs":
                    self._json(201, {"id": "pj1", "state": "pending"})
                else:
                    self._json(200, {})

            def do_GET(self) -> None:
                now = utcnow().isoformat()
                if self.path == "/api/v1/jobs/pj1":
                    job = {"id": "pj1", "state": "succeeded", "exit_code": 0, "replicas": []}
                    self._json(200, job | {"started_at": now, "ended_at": now, "message": "ok"})
                elif self.path == "/api/v1/jobs/pj1/outputs":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/gzip")
                    if peer.chunked:
                        self.send_header("Transfer-Encoding", "chunked")
                    else:
                        self.send_header("Content-Length", str(len(peer.outputs)))
                    self.end_headers()
                    try:
                        for at in range(0, len(peer.outputs), 64 * 1024):
                            block = peer.outputs[at : at + 64 * 1024]
                            if peer.chunked:
                                self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
                            else:
                                self.wfile.write(block)
                            peer.sent += len(block)
                        if peer.chunked:
                            self.wfile.write(b"0\r\n\r\n")
                    except OSError:  # the home site hung up: what it should do past its limit
                        self.close_connection = True
                else:
                    self._json(404, {"detail": "not found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HostilePeer:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def peer_key(tmp_path: Path) -> Iterator[Ed25519PrivateKey]:
    yield signing.load_key(tmp_path / "peer.key")


def _routed_job(tmp_path: Path, peer: HostilePeer, key: Ed25519PrivateKey) -> dict[str, str]:
    """A home site whose one peer is `peer`: a job routed there, followed to its end."""
    home_fed = {
        "site": "home",
        "url": "http://127.0.0.1:9",
        "peers": [{"site": "peer", "url": peer.url, "public_key": signing.public_text(key)}],
        "max_outputs_mib": 1,
    }
    with in_process(tmp_path / "home", federation=home_fed, pricing={"cpu_core_hour": "2"}) as (
        api,
        _state,
    ):
        advert = {"site": "peer", "jurisdiction": "CN", "prices": {"cpu_core_hour": "1"}}
        body = json.dumps(advert).encode()
        path = "/api/v1/federation/adverts"
        headers = signing.sign(key, "peer", "POST", path, body, utcnow(), to="home")
        headers |= {"Authorization": "", "Content-Type": "application/json"}
        assert api.post(path, content=body, headers=headers).status_code == 200
        job = api.post(
            "/api/v1/jobs",
            json={"command": "true", "placement": "federation", "resources": {"cpu": "100m"}},
        ).json()

        def ended() -> dict[str, str] | None:
            found: dict[str, str] = api.get(f"/api/v1/jobs/{job['id']}").json()
            return found if found["state"] == "succeeded" else None

        done = wait("the routed job to end at home", ended, timeout=30)
        mirror = tmp_path / "home" / "federation" / "jobs" / job["id"]
        assert sorted(p.name for p in mirror.iterdir()) == []  # nothing kept, nothing left
        return done


def test_a_peers_bomb_is_not_held_and_the_job_says_why(
    tmp_path: Path, peer_key: Ed25519PrivateKey
) -> None:
    """32 MiB of random bytes, without a length, under a 1 MiB cap: the download stops there
    (what is sent past it fills the sockets' buffers at most)."""
    with HostilePeer(os.urandom(32 * MiB), chunked=True) as peer:
        done = _routed_job(tmp_path, peer, peer_key)
    assert "its outputs were not kept here" in done["message"], done
    assert "more than 1048576 bytes" in done["message"] and "max_outputs_mib" in done["message"]
    assert peer.sent < 32 * MiB  # the home site hung up past its limit


def test_a_peers_archive_with_a_link_is_not_kept_and_the_job_says_why(
    tmp_path: Path, peer_key: Ed25519PrivateKey
) -> None:
    with HostilePeer(_tar(lambda t: _link(t, "home", "../../.."))) as peer:
        done = _routed_job(tmp_path, peer, peer_key)
    assert "refuses" in done["message"] and "is a link" in done["message"], done
