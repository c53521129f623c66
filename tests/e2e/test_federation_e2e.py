"""Three `aicc serve` sites on loopback, federated (docs/federation.md): jobs submitted at site a
with `placement: federation` follow price, carbon and data; a data set tagged to a's region
stays at a; a site killed mid-job loses its job, which runs again at the third site; state, logs
and outputs are seen from a.

Sites (prices per CPU core-hour, grid carbon in gCO2/kWh):
  a  CN-GD  price 2  carbon 500   home of the jobs; holds `corpus` and `records` (tagged CN-GD)
  b  CN-SH  price 1  carbon 100   the green one
  c  CN-BJ  price 1  carbon 500   holds a public copy of `records`
Organizations at a may use: `ac` sites a and c; `bc` sites b and c.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from e2e_support import TERMINAL, wait_for, wait_state

from aicc.sdk.client import Client
from aicc.services.federation import signing
from aicc.testing.servers import ServerProcess, close_all, free_port, start_all
from aicc.testing.startup import start_timeout_s

pytestmark = pytest.mark.slow

SITES = {
    "a": {"jurisdiction": "CN-GD", "price": "2", "carbon": 500},
    "b": {"jurisdiction": "CN-SH", "price": "1", "carbon": 100},
    "c": {"jurisdiction": "CN-BJ", "price": "1", "carbon": 500},
}
SMALL = {"cpu": "100m", "memory": "64MiB"}


class Federation:
    def __init__(self, root: Path) -> None:
        self.servers: dict[str, ServerProcess] = {}
        ports = {name: free_port() for name in SITES}
        keys = {}
        for name in SITES:
            home = root / name
            home.mkdir(parents=True)
            keys[name] = signing.public_text(signing.load_key(home / "federation.key"))
        for name, site in SITES.items():
            home = root / name
            peers = [
                {"site": p, "url": f"http://127.0.0.1:{ports[p]}", "public_key": keys[p]}
                for p in SITES
                if p != name
            ]
            config = {
                "sandbox": "off",
                "pricing": {"cpu_core_hour": site["price"]},
                "site": {"carbon_intensity": site["carbon"]},
                "federation": {
                    "site": name,
                    "url": f"http://127.0.0.1:{ports[name]}",
                    "jurisdiction": site["jurisdiction"],
                    "peers": peers,
                    "advertise_interval_s": 0.5,
                    "lost_after_s": 3,
                    "request_timeout_s": 2,
                    "org_sites": {"ac": ["a", "c"], "bc": ["b", "c"]},
                },
            }
            (home / "config.yaml").write_text(yaml.safe_dump(config))
            self.servers[name] = ServerProcess(home, ports[name])

    def start(self) -> None:
        """The three side by side; when one fails, all three are stopped (start_all)."""
        start_all(list(self.servers.values()))

    def api(self, name: str, token: str | None = None) -> httpx.Client:
        server = self.servers[name]
        return httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {token or server.token}"},
            timeout=30,
        )

    def close(self) -> None:
        close_all(self.servers.values())


def tenant(admin: httpx.Client, name: str) -> str:
    org = admin.post("/api/v1/orgs", json={"name": name}).json()
    user = admin.post(
        "/api/v1/users", json={"name": f"{name}-user", "role": "member", "org_id": org["id"]}
    ).json()
    token = admin.post("/api/v1/tokens", json={"name": "t", "user_id": user["id"]}).json()
    return str(token["secret"])


def push(server: ServerProcess, name: str, root: Path, region: str | None = None) -> None:
    """A public data set `name` at `server`, pushed with the SDK; tagged to `region`."""
    folder = root / f"{name}-{server.port}"
    folder.mkdir()
    (folder / "data.csv").write_text("x,y\n1,2\n")
    api = Client(server.url, server.token)
    api.datasets.push(name, folder, create={"visibility": "public"})
    if region:
        assert api.datasets.update(name, region=region).region == region


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("federation")
    sites = Federation(root)
    try:
        sites.start()
        admin = sites.api("a")
        push(sites.servers["a"], "corpus", root)
        push(sites.servers["a"], "records", root, region="CN-GD")
        push(sites.servers["c"], "records", root)

        def all_up() -> bool:
            items = admin.get("/api/v1/federation/sites").json()["items"]
            held = {
                i["site"]: [d["name"] for d in (i["advert"] or {}).get("datasets", [])]
                for i in items
            }
            return all(i["state"] == "up" for i in items) and "records" in held.get("c", [])

        wait_for(all_up, start_timeout_s(), "every peer's advert reaching site a")
        yield {
            "sites": sites,
            "admin": admin,
            "ac": sites.api("a", tenant(admin, "ac")),
            "bc": sites.api("a", tenant(admin, "bc")),
        }
    finally:
        sites.close()


def submit(api: httpx.Client, **spec: Any) -> str:
    body = {"placement": "federation", "resources": SMALL, **spec}
    answer = api.post("/api/v1/jobs", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def invoice_lines(api: httpx.Client, job_id: str) -> list[dict[str, Any]]:
    return [
        line for line in api.get("/api/v1/bills").json()["lines"] if line.get("job_id") == job_id
    ]


def routed_to(api: httpx.Client, job_id: str) -> list[str]:
    """The sites the job was routed to, in order, read from its events."""
    events = api.get(f"/api/v1/jobs/{job_id}/events").json()["items"]
    return [e["data"]["ranked"][0]["site"] for e in events if e["reason"] == "routed"]


def test_price_decides_and_the_home_site_sees_state_logs_and_outputs(fed: dict[str, Any]) -> None:
    api = fed["ac"]
    job_id = submit(
        api, command='echo "hello from $(hostname)"; echo result > "$AICC_OUTPUT_DIR/result.txt"'
    )
    job = wait_state(api, job_id, TERMINAL, timeout=30)
    assert job["state"] == "succeeded", job
    assert routed_to(api, job_id) == ["c"]  # a costs 2, c 1; same carbon
    assert "at site c" in job["message"]
    assert "hello from" in api.get(f"/api/v1/jobs/{job_id}/logs").text
    archive = api.get(f"/api/v1/jobs/{job_id}/outputs")
    assert archive.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(archive.content)) as tar:
        member = tar.extractfile("result.txt")
        assert member is not None and member.read() == b"result\n"
    # at c the job belongs to the tenant `site-a` and carries its federated identity
    at_c = fed["sites"].api("c")
    remote = [
        j
        for j in at_c.get("/api/v1/jobs").json()["items"]
        if j["spec"]["labels"].get("federation.home-job") == job_id
    ]
    assert len(remote) == 1
    assert remote[0]["spec"]["labels"]["federation.home-site"] == "a"
    assert remote[0]["spec"]["labels"]["federation.home-user"] == "ac/ac-user"
    # billed at home, at home's price, on one line; owed to c once
    lines = invoice_lines(api, job_id)
    assert [(line["item"], line["unit_price"]) for line in lines] == [("cpu", "2")]
    owed = fed["admin"].get("/api/v1/federation/settlements", params={"site": "c"}).json()
    assert [
        (s["job_id"], s["attempt"], s["state"]) for s in owed["items"] if s["job_id"] == job_id
    ] == [(job_id, 0, "open")]


def test_carbon_decides_when_prices_are_equal(fed: dict[str, Any]) -> None:
    api = fed["bc"]
    job_id = submit(api, command="echo green")
    assert wait_state(api, job_id, TERMINAL, timeout=30)["state"] == "succeeded"
    assert routed_to(api, job_id) == ["b"]  # b and c cost 1; b emits 100 g/kWh, c 500


def test_the_job_goes_to_the_data(fed: dict[str, Any]) -> None:
    api = fed["ac"]
    job_id = submit(api, command='ls "$AICC_DATA_DIR/corpus"', datasets=["corpus"])
    job = wait_state(api, job_id, TERMINAL, timeout=30)
    assert job["state"] == "succeeded", job
    assert routed_to(api, job_id) == ["a"]  # c is cheaper but lacks corpus
    assert "data.csv" in api.get(f"/api/v1/jobs/{job_id}/logs").text


def test_a_data_set_tagged_to_a_region_stays_there(fed: dict[str, Any]) -> None:
    api = fed["ac"]
    job_id = submit(api, command="echo sovereign", datasets=["records"])
    job = wait_state(api, job_id, TERMINAL, timeout=30)
    assert job["state"] == "succeeded", job
    events = api.get(f"/api/v1/jobs/{job_id}/events").json()["items"]
    routed = next(e for e in events if e["reason"] == "routed")
    assert [r["site"] for r in routed["data"]["ranked"]] == ["a"]
    assert "tagged CN-GD" in routed["data"]["refused"]["c"]  # c holds a copy and is cheaper


def test_cancel_at_home_cancels_at_the_peer(fed: dict[str, Any]) -> None:
    api = fed["ac"]
    job_id = submit(api, command="sleep 60")
    wait_state(api, job_id, {"running"}, timeout=30)
    assert api.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 200
    job = wait_state(api, job_id, TERMINAL, timeout=30)
    assert (job["state"], job["reason"]) == ("cancelled", "cancelled_by_user")
    at_c = fed["sites"].api("c")
    remote = [
        j
        for j in at_c.get("/api/v1/jobs").json()["items"]
        if j["spec"]["labels"].get("federation.home-job") == job_id
    ]
    assert [j["state"] for j in remote] == ["cancelled"]


def test_a_site_killed_mid_job_loses_it_and_it_runs_elsewhere(fed: dict[str, Any]) -> None:
    api = fed["bc"]
    job_id = submit(api, command="sleep 4; echo survived", max_retries=1)
    wait_state(api, job_id, {"running"}, timeout=30)
    assert routed_to(api, job_id) == ["b"]
    fed["sites"].servers["b"].kill9()
    job = wait_state(api, job_id, TERMINAL, timeout=40)
    assert job["state"] == "succeeded", job
    assert job["attempt"] == 1
    assert routed_to(api, job_id) == ["b", "c"]
    events = api.get(f"/api/v1/jobs/{job_id}/events").json()["items"]
    assert any(e["reason"] == "site_lost" for e in events)
    assert "survived" in api.get(f"/api/v1/jobs/{job_id}/logs").text
    sites = {
        s["site"]: s["state"] for s in fed["admin"].get("/api/v1/federation/sites").json()["items"]
    }
    assert sites == {"b": "lost", "c": "up"}
    # one invoice line for the job across both sites; only the attempt that ran to its end at
    # c is owed, and it is settled once
    assert [line["item"] for line in invoice_lines(api, job_id)] == ["cpu"]
    admin = fed["admin"]
    owed = [
        s
        for s in admin.get("/api/v1/federation/settlements").json()["items"]
        if s["job_id"] == job_id
    ]
    assert [(s["site"], s["attempt"]) for s in owed] == [("c", 1)]
    first = admin.post(f"/api/v1/federation/settlements/{owed[0]['id']}/settle")
    assert first.status_code == 200 and first.json()["state"] == "settled"
    again = admin.post(f"/api/v1/federation/settlements/{owed[0]['id']}/settle")
    assert again.status_code == 409
