"""The portal in a real browser: Playwright drives Debian's Chromium (`/usr/bin/chromium`, never a
downloaded one) against a real `aicc serve` process.

A person signs in, sees the job list update by itself when a job is submitted with the CLI,
watches the job reach `succeeded` on its page and reads its log, cancels another job, switches to
中文, and a second tenant gets a 404 for the first tenant's job page. An operator walks through the
center's pages: the overview's charts drawn from real jobs, the device heat map (live, and a node
cordoned from it), quotas, tenants with a refused form, prices, the audit log, a token created and
revoked, and the heat map in Chinese. A tenant estimates a job in the wizard, submits it and
watches it succeed, and reads the dashboard's spend and quota. Every main page is also opened on a
390 px wide screen, where it must not scroll sideways (wide tables scroll inside their card).
Every page is checked for console errors and for serious accessibility violations (axe-core, from
npm), at both widths, and screenshots of each main page are saved under tests/artifacts/portal/
for people to look at.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from portal_support import PASSWORD, TERMINAL, Person, make_person, submit, wait_job

from aicc.portal.rendering import VENDOR_FILES
from aicc.testing.servers import ServerProcess, free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "tests" / "artifacts" / "portal"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
VENDOR = ROOT / "aicc" / "portal" / "static" / "vendor"
WIDE = {"width": 1280, "height": 800}
NARROW = {"width": 390, "height": 844}


def _loud_skip(reason: str) -> None:
    banner = "#" * 80
    message = f"\n{banner}\nPORTAL BROWSER TESTS SKIPPED: {reason}\n{banner}\n"
    sys.stderr.write(message)
    warnings.warn(message, stacklevel=2)
    pytest.skip(reason)


def _ensure_chromium() -> None:
    """Chromium comes from Debian (scripts/install-test-deps.sh); try to install it once."""
    if CHROMIUM.exists():
        return
    script = ROOT / "scripts" / "install-test-deps.sh"
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=900)
    if not CHROMIUM.exists():
        _loud_skip(
            f"{CHROMIUM} is missing and `bash scripts/install-test-deps.sh` could not install it "
            f"(exit {proc.returncode}): {proc.stderr.strip()[-500:]}"
        )


def _ensure_assets() -> None:
    """The portal's htmx, ECharts and xterm.js and the tests' axe-core come from npm at build
    time."""
    if all((VENDOR / name).is_file() for name in VENDOR_FILES) and AXE.exists():
        return
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build-portal.sh")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        pytest.fail(f"scripts/build-portal.sh failed:\n{proc.stdout}\n{proc.stderr}")


@contextlib.contextmanager
def portal_server(
    factory: pytest.TempPathFactory, name: str, config: dict[str, Any]
) -> Iterator[tuple[ServerProcess, httpx.Client]]:
    """A real `aicc serve` with the portal's assets, its home in a fresh folder named `name`
    and `config` as its config.yaml; stopped when the block ends, on a failure too."""
    _ensure_assets()
    home = factory.mktemp(name) / "home"
    home.mkdir()
    (home / "config.yaml").write_text(yaml.safe_dump(config))
    server = ServerProcess(home, free_port()).start()
    api: httpx.Client = server.client()
    try:
        yield server, api
    finally:
        api.close()
        server.close()


@dataclass
class Site:
    server: ServerProcess
    api: httpx.Client
    alice: Person
    bob: Person


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    _ensure_assets()
    base = tmp_path_factory.mktemp("portal-browser")
    home = base / "home"
    home.mkdir()
    config = {
        "loop_interval_s": 0.2,
        "limits": {"grace_s": 1.0},
        "simulated_devices": [{"model": "A100-80GB", "count": 2}],
    }
    (home / "config.yaml").write_text(yaml.safe_dump(config))
    server = ServerProcess(home, free_port()).start()
    api = server.client()
    try:
        inventory = yaml.safe_load((ROOT / "examples" / "inventory.yaml").read_text())
        api.post("/api/v1/nodes/import", json=inventory).raise_for_status()
        yield Site(
            server, api, make_person(api, "acme", "alice"), make_person(api, "globex", "bob")
        )
    finally:
        for job in api.get("/api/v1/jobs").json()["items"]:
            if job["state"] not in TERMINAL:
                api.post(f"/api/v1/jobs/{job['id']}/cancel")
        for job in api.get("/api/v1/jobs").json()["items"]:
            with contextlib.suppress(AssertionError):
                wait_job(api, Person("admin", "", "", "", server.token), job["id"], TERMINAL, 15)
        api.close()
        server.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    _ensure_chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]'")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@dataclass
class Watch:
    """Console errors, uncaught exceptions and failed requests of one browser context."""

    problems: list[str] = field(default_factory=list)
    expected_404s: set[str] = field(default_factory=set)
    expected_422s: set[str] = field(default_factory=set)  # forms refused on purpose

    def attach(self, page: Any) -> None:
        def console(message: Any) -> None:
            if message.type == "error" and not self._expected(page.url, message.text):
                self.problems.append(f"console error on {page.url}: {message.text}")

        def failed(request: Any) -> None:
            # Leaving a page cancels its poll in flight (net::ERR_ABORTED): that is no error.
            if "ERR_ABORTED" not in (request.failure or ""):
                self.problems.append(f"request failed: {request.url} {request.failure}")

        page.on("console", console)
        page.on("pageerror", lambda err: self.problems.append(f"exception on {page.url}: {err}"))
        page.on("requestfailed", failed)

    def _expected(self, url: str, text: str) -> bool:
        # The 404 page is answered with status 404, and a refused form with 422, which Chromium
        # reports on the console.
        for status, paths in ((404, self.expected_404s), (422, self.expected_422s)):
            if f"status of {status}" in text and any(url.endswith(p) for p in paths):
                return True
        return False


def open_page(browser: Any, watch: Watch, viewport: dict[str, int] = WIDE, **options: Any) -> Any:
    context = browser.new_context(viewport=viewport, locale="en-US", **options)
    context.set_default_timeout(15_000)
    # Where a refused inline style or script comes from, on the console next to Chromium's error.
    context.add_init_script(
        "document.addEventListener('securitypolicyviolation', (e) => console.error("
        "'CSP ' + e.violatedDirective + ' at ' + e.sourceFile + ':' + e.lineNumber + ':'"
        " + e.columnNumber + ' sample ' + e.sample))"
    )
    page = context.new_page()
    watch.attach(page)
    return page


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_load_state("load")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@functools.cache
def _axe_source() -> str:
    return AXE.read_text("utf-8")


def axe_check(page: Any, what: str) -> None:
    """No serious or critical accessibility violation (axe-core's WCAG 2 A/AA rules).

    Only the violations are computed in full and sent back (`resultTypes`): every node of
    every passing rule, serialized through Playwright, made a check take 1 s where the rules
    take 0.1. axe is injected once per document."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    violations = page.evaluate(
        "async () => (await axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']},"
        " resultTypes: ['violations']})).violations"
    )
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"accessibility problems on {what}:\n" + "\n".join(bad)


def fits_the_screen(page: Any, what: str) -> None:
    """The page never scrolls sideways: a table wider than the screen scrolls inside its card."""
    wide, screen = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert wide <= screen, f"{what} is {wide} px wide on a {screen} px screen"


def narrow_tour(browser: Any, watch: Watch, page: Any, url: str, pages: dict[str, str]) -> Any:
    """Each of `pages` (path: screenshot name) on a 390 px wide screen, signed in as `page`
    is: its heading shown, a screenshot, no sideways scrolling, no serious axe violation. The
    narrow page is returned, still open, on the last path."""
    from playwright.sync_api import expect

    narrow = open_page(browser, watch, NARROW, storage_state=page.context.storage_state())
    for path, name in pages.items():
        narrow.goto(url + path)
        expect(narrow.locator("main h1").first).to_be_visible()
        shot(narrow, name)
        fits_the_screen(narrow, path)
        axe_check(narrow, f"{path} at {NARROW['width']} px")
    return narrow


def sign_in(page: Any, url: str, person: Person) -> None:
    page.goto(url + "/")
    page.get_by_label("User name").fill(person.name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(url + "/")


def cli(site: Site, person: Person, *args: str, cwd: Path) -> str:
    env = {**site.server.env(), "AICC_TOKEN": person.token}
    env.pop("AICC_HOME", None)  # the CLI uses the person's token, not the admin's file
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "aicc"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_a_person_signs_in_and_follows_a_job_to_its_logs(
    site: Site, chromium: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    url, watch = site.server.url, Watch()
    page = open_page(chromium, watch)

    # Sign-in: a wrong password first, then the right one; the page keeps the name.
    page.goto(url + "/jobs")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=%2Fjobs$"))
    shot(page, "sign-in")
    axe_check(page, "the sign-in page")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("do not match")
    expect(page.get_by_label("User name")).to_have_value("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")  # the keyboard submits the form
    expect(page).to_have_url(url + "/jobs")
    expect(page.get_by_role("heading", name="Jobs", exact=True)).to_be_visible()
    expect(page.get_by_text("No jobs here yet.")).to_be_visible()

    # A job submitted with the CLI appears in the open list without a reload.
    spec = tmp_path / "job.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "portal-hello",
                "command": 'for i in 1 2 3 4; do echo "step $i of 4"; sleep 0.5; done; '
                "echo all-done",
                "resources": {"cpu": "100m", "memory": "64MiB"},
            }
        )
    )
    job_id = cli(site, site.alice, "job", "submit", "-f", str(spec), cwd=tmp_path)
    assert job_id.startswith("job_")
    link = page.get_by_role("link", name="portal-hello")
    page.clock.fast_forward(3_000)  # the list's next poll (every 3 s), now
    expect(link).to_be_visible(timeout=15_000)

    # Its page follows it to `succeeded` and shows the log, again without a reload: once the
    # job is over, the page's next polls (every 2 s), now.
    link.click()
    expect(page).to_have_url(f"{url}/jobs/{job_id}")
    page.wait_for_load_state("load")
    wait_job(site.api, site.alice, job_id, TERMINAL)
    page.clock.fast_forward(2_000)
    badge = page.locator("#job-live h1 .badge")
    expect(badge).to_have_text("Succeeded", timeout=30_000)
    log = page.locator("#job-log pre")
    expect(log).to_contain_text("step 4 of 4")
    expect(log).to_contain_text("all-done")
    expect(page.locator("#job-log")).to_contain_text("final log")
    expect(page.locator(".timeline")).to_contain_text("Succeeded")
    shot(page, "job")
    axe_check(page, "the job page")
    page.get_by_role("link", name="Replica 0 · stderr").click()
    expect(page.locator("#job-log")).to_contain_text("The log is empty so far.")

    page.get_by_role("link", name="Jobs", exact=True).first.click()
    expect(page.get_by_role("link", name="portal-hello")).to_be_visible()
    page.get_by_label("State").select_option("succeeded")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"state=succeeded"))
    expect(page.get_by_role("link", name="portal-hello")).to_be_visible()
    shot(page, "jobs")
    axe_check(page, "the job list")

    # The dashboard's chart is drawn from the real counts.
    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator("#state-chart[data-chart-ready='true'] canvas")).to_be_visible()
    expect(page.locator(".stat-finished .stat-value")).to_have_text("1")
    shot(page, "dashboard")
    axe_check(page, "the dashboard")

    page.get_by_role("link", name="Nodes").click()
    expect(page.get_by_role("heading", name="sim-a100-1")).to_be_visible()
    expect(page.get_by_text("Simulated devices").first).to_be_visible()
    shot(page, "nodes")
    axe_check(page, "the nodes page")

    # Keyboard: the first Tab reaches the skip link, which moves focus to the content.
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")
    page.keyboard.press("Enter")
    expect(page.locator("main:focus")).to_have_count(1)

    # 中文: the whole page switches, and stays switched after a reload.
    page.goto(f"{url}/jobs/{job_id}")
    page.get_by_role("button", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#job-live h1 .badge")).to_have_text("成功")
    expect(page.get_by_role("heading", name="时间线")).to_be_visible()
    page.reload()
    expect(page.get_by_role("link", name="作业", exact=True).first).to_be_visible()
    shot(page, "job-zh")
    for path, name in (("/", "dashboard-zh"), ("/jobs", "jobs-zh"), ("/nodes", "nodes-zh")):
        page.goto(url + path)
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        shot(page, name)
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")

    # A narrow screen: the same pages, stacked.
    tour = {"/jobs": "jobs-narrow", f"/jobs/{job_id}": "job-narrow", "/nodes": "nodes-narrow"}
    narrow_tour(chromium, watch, page, url, tour).context.close()

    problems = list(watch.problems)  # before closing, which cancels any poll in flight
    page.context.close()
    assert not problems, "\n".join(problems)


def test_cancel_from_the_job_page(site: Site, chromium: Any) -> None:
    from playwright.sync_api import expect

    job = submit(
        site.api,
        site.alice,
        name="long-sleep",
        command="sleep 120",
        replicas=2,
        resources={"cpu": "100m", "memory": "64MiB", "accelerator": {"count": 1}},
    )
    wait_job(site.api, site.alice, job["id"], {"running"})
    watch = Watch()
    page = open_page(chromium, watch)
    sign_in(page, site.server.url, site.alice)
    page.goto(f"{site.server.url}/nodes")  # its two devices show as allocated
    expect(page.locator(".device.is-busy")).to_have_count(2)
    shot(page, "nodes-busy")
    page.goto(f"{site.server.url}/jobs/{job['id']}")
    shot(page, "job-running")
    expect(page.locator("#job-live h1 .badge")).to_have_text("Running")
    page.get_by_role("button", name="Cancel job").click()
    expect(page.locator("#job-live h1 .badge")).to_have_text("Cancelled", timeout=20_000)
    expect(page.get_by_role("button", name="Cancel job")).to_have_count(0)
    assert wait_job(site.api, site.alice, job["id"], TERMINAL)["state"] == "cancelled"
    problems = list(watch.problems)  # before closing, which cancels any poll in flight
    page.context.close()
    assert not problems, "\n".join(problems)


def test_another_tenant_gets_a_404_for_the_job_page(site: Site, chromium: Any) -> None:
    from playwright.sync_api import expect

    job = submit(site.api, site.alice, name="acme-secret", command="echo acme-only")
    path = f"/jobs/{job['id']}"
    watch = Watch(expected_404s={path})
    page = open_page(chromium, watch)
    sign_in(page, site.server.url, site.bob)
    answer = page.goto(site.server.url + path)
    assert answer is not None and answer.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    content = page.content()
    assert "acme-secret" not in content and "acme-only" not in content
    shot(page, "not-found")
    axe_check(page, "the 404 page")
    page.goto(site.server.url + "/jobs")
    expect(page.get_by_text("No jobs here yet.")).to_be_visible()
    problems = list(watch.problems)  # before closing, which cancels any poll in flight
    page.context.close()
    assert not problems, "\n".join(problems)


def sign_in_as_operator(page: Any, url: str, token: str) -> None:
    page.goto(url + "/sign-in")
    page.get_by_text("Sign in with an API token instead").click()
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in with token").click()
    page.wait_for_url(url + "/")


def chart_points(page: Any, selector: str) -> list[int]:
    """How many points each series of the ECharts chart in `selector` holds."""
    counts: list[int] = page.evaluate(
        """(selector) => {
            const chart = echarts.getInstanceByDom(document.querySelector(selector));
            return chart.getOption().series.map((s) => s.data.length);
        }""",
        selector,
    )
    return counts


def test_an_operator_walks_through_the_center(site: Site, chromium: Any) -> None:
    """Overview charts drawn from real jobs, the heat map live and its cordon button, quotas,
    tenants and the audit log, a token created and revoked, and one page in Chinese."""
    from playwright.sync_api import expect

    url = site.server.url
    share = {"cpu": "100m", "memory": "64MiB", "accelerator": {"milli": 500}}
    whole = {"cpu": "100m", "memory": "64MiB", "accelerator": {"count": 2}}
    jobs = [
        submit(site.api, site.alice, name="half-a-gpu", command="sleep 120", resources=share),
        submit(site.api, site.bob, name="two-gpus", command="sleep 120", resources=whole),
    ]
    for job, person in zip(jobs, (site.alice, site.bob), strict=True):
        wait_job(site.api, person, job["id"], {"running"})
    quota = {"guaranteed": {"A100-80GB": 1000, "pflops": 0.5}, "max": {"A100-80GB": 4000}}
    site.api.put(f"/api/v1/orgs/{site.alice.org_id}/quota", json=quota).raise_for_status()
    watch = Watch(expected_422s={"/center/tenants/orgs"})
    page = open_page(chromium, watch)
    page.clock.install()  # time flows as usual; the test moves it on to the pages' next poll
    try:
        sign_in_as_operator(page, url, site.server.token)
        page.get_by_role("link", name="Overview").click()
        expect(page.get_by_role("heading", name="Center overview")).to_be_visible()
        page.get_by_role("link", name="1 h").click()
        expect(page.locator("#rate-chart[data-chart-ready='true'] canvas")).to_be_visible()
        expect(page.locator("#capacity-chart[data-chart-ready='true'] canvas")).to_be_visible()
        assert chart_points(page, "#rate-chart") == [60, 60]  # allocated and busy, per minute
        assert chart_points(page, "#capacity-chart") == [1, 1]  # real and simulated A100s
        expect(page.locator(".stat-allocated")).to_contain_text("%")
        # The page's poll (every 10 s) swaps its charts for new ones: htmx settles them without
        # copying ECharts' inline styles across (the CSP refuses style attributes), and they draw.
        # The page's clock jumps the 10 s, so its own timer fires the poll now.
        page.evaluate(
            "() => { window.polled = new Promise((settled) => document.body.addEventListener("
            "'htmx:afterSettle', settled, {once: true})); }"
        )
        page.clock.fast_forward(10_000)
        page.evaluate("() => window.polled")
        expect(page.locator("#rate-chart[data-chart-ready='true'] canvas")).to_be_visible()
        shot(page, "center")
        axe_check(page, "the center overview")

        # The heat map: one cell per device, the shared one in slices; cordon from the page.
        page.get_by_role("link", name="Device heat map").click()
        expect(page.locator(".cell")).to_have_count(10)
        expect(page.locator('.cell[data-kind="partial"]')).to_have_count(1)
        expect(page.locator('.cell[data-kind="whole"]')).to_have_count(2)
        shot(page, "heatmap")
        axe_check(page, "the heat map")
        page.get_by_role("button", name="Cordon sim-a100-2").click()
        state = page.locator("#node-sim-a100-2 [data-node-state]")
        expect(state).to_have_text("Cordoned")
        expect(page.get_by_role("status")).to_contain_text("sim-a100-2 is cordoned")
        # Live: a change made elsewhere (the API) shows without a reload, at the map's next
        # poll (every 5 s; the page's clock jumps there).
        site.api.post("/api/v1/nodes/sim-a100-2/uncordon").raise_for_status()
        page.clock.fast_forward(5_000)
        expect(state).to_have_text("Ready", timeout=10_000)

        for links, heading, name in (
            (("Usage", "Quotas"), "Quotas", "quotas"),  # a group of the top bar, then its tab
            (("Organizations & users",), "Organizations and users", "tenants"),
            (("Prices & vouchers",), "Prices and vouchers", "prices"),
            (("Audit log",), "Audit log", "audit"),
            (("Account", "Secrets"), "Secrets", "secrets"),
        ):
            for link in links:
                page.get_by_role("link", name=link, exact=True).click()
            expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
            shot(page, name)
            axe_check(page, f"the {name} page")

        # A form refused by the service layer: the error sits next to its field.
        page.get_by_role("link", name="Organizations & users").click()
        page.locator("#org-name").fill("Not OK")
        page.get_by_role("button", name="Create organization").click()
        expect(page.locator("#org-name-error")).to_contain_text("lower-case letters")
        expect(page.locator("#org-name")).to_have_attribute("aria-invalid", "true")
        shot(page, "tenants-error")
        axe_check(page, "a refused form")

        # A token: created, its secret shown once, then revoked.
        page.get_by_role("link", name="Account").click()  # the top bar: API tokens first
        page.get_by_label("Name").fill("walkthrough")
        page.get_by_role("button", name="Create token").click()
        expect(page.get_by_label("Token secret")).to_have_value(re.compile(r"^aicc_"))
        shot(page, "tokens")
        axe_check(page, "the tokens page")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Revoke token walkthrough").click()
        expect(page.get_by_role("status")).to_contain_text("walkthrough is revoked")
        expect(page.locator("tr", has_text="walkthrough").locator(".badge")).to_have_text("Revoked")
        expect(page.get_by_label("Token secret")).to_have_count(0)

        # 中文 on an operator page.
        page.goto(url + "/center/nodes")
        page.get_by_role("button", name="中文").click()
        expect(page.get_by_role("heading", name="设备热力图")).to_be_visible()
        expect(page.get_by_role("button", name="封锁 sim-a100-1")).to_be_visible()
        shot(page, "heatmap-zh")
        page.goto(url + "/center?hours=1")
        expect(page.locator("#rate-chart[data-chart-ready='true'] canvas")).to_be_visible()
        page.locator("#rate-chart").hover()  # a tooltip, within the page's CSP
        shot(page, "center-zh")
        page.get_by_role("button", name="English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")

        tour = {
            "/center?hours=1": "center-narrow",
            "/center/nodes": "heatmap-narrow",
            "/quotas": "quotas-narrow",
            "/center/tenants": "tenants-narrow",
            "/center/prices": "prices-narrow",
            "/center/audit": "audit-narrow",
        }
        narrow = narrow_tour(chromium, watch, page, url, tour)
        # The audit log's table is wider than the screen: it scrolls inside its card, and
        # takes the keyboard's focus so it can be scrolled without a mouse.
        table = narrow.locator(".table-wrap[data-scroll-region]")
        expect(table).to_have_count(1)
        expect(table).to_have_attribute("tabindex", "0")
        assert table.evaluate("(el) => el.scrollWidth > el.clientWidth")
        narrow.context.close()
        problems = list(watch.problems)  # before closing, which cancels any poll in flight
    finally:
        page.context.close()
        for job in jobs:
            site.api.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert not problems, "\n".join(problems)


def test_the_browser_uses_only_this_server(site: Site) -> None:
    """Nothing is fetched from a CDN: every script and stylesheet is served by AICC itself."""
    page = httpx.get(site.server.url + "/sign-in").text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    remote = [s for s in sources if re.match(r"^([a-z][a-z0-9+.-]*:|//)", s, re.IGNORECASE)]
    assert sources and not remote, remote
    for asset in ("/static/vendor/htmx.min.js", "/static/portal.css", "/static/portal.js"):
        assert httpx.get(site.server.url + asset).status_code == 200, asset
    assert os.path.getsize(VENDOR / "echarts.min.js") > 100_000


def test_the_wizard_the_yaml_editor_and_the_bills(site: Site, chromium: Any) -> None:
    """Estimate a 7B fine-tune, pick an option, submit a real job and watch it succeed; a bad
    YAML spec refused inline; the bills page's chart drawn, in English and Chinese."""
    from datetime import UTC, datetime, timedelta

    from playwright.sync_api import expect

    url, alice = site.server.url, site.alice
    start = (datetime.now(UTC) - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    plan = {"name": "center-demo", "effective_from": start.isoformat(), "pflops_hour": "9.50"}
    site.api.post("/api/v1/price-plans", json=plan).raise_for_status()
    budget = {"limit": "50000", "thresholds": [0.5, 0.8, 1.0]}
    site.api.put(f"/api/v1/projects/{alice.project_id}/budget", json=budget).raise_for_status()
    voucher = {"org_id": alice.org_id, "name": "welcome-credit", "amount": "200"}
    site.api.post("/api/v1/vouchers", json=voucher).raise_for_status()
    quota = {"guaranteed": {"A100-80GB": 2000}, "max": {"A100-80GB": 4000}}
    site.api.put(f"/api/v1/orgs/{alice.org_id}/quota", json=quota).raise_for_status()
    watch = Watch(expected_422s={"/submit/yaml"})
    page = open_page(chromium, watch)
    try:
        sign_in(page, url, alice)
        page.get_by_role("link", name="Submit", exact=True).click()
        page.get_by_label("LLM fine-tuning").check()
        expect(page.get_by_label("Epochs")).to_be_visible()  # fine-tuning's fields came in
        page.get_by_label("Model size (parameters)").fill("7B")
        page.get_by_label("Training tokens").fill("1B")
        page.get_by_role("button", name="Estimate", exact=True).click()
        rows = page.locator(".option-row")
        expect(rows.first).to_contain_text("CNY")
        expect(rows.first).to_contain_text(re.compile(r"\d+\.\d\d"))
        page.get_by_role("link", name="Cheapest first").click()
        expect(page.locator(".tag-best")).to_have_text("cheapest")
        assert rows.count() >= 2
        shot(page, "wizard-estimate")
        axe_check(page, "the wizard's estimate")

        page.get_by_role("link", name="Choose 2 × A100-80GB").click()
        expect(page.get_by_label("Devices per replica")).to_have_value("2")
        expect(page.get_by_label("Max runtime")).to_have_value(re.compile(r"^\d+h"))
        page.get_by_label("Job name").fill("wizard-hi")
        page.get_by_label("Command", exact=True).fill("python3 -c \"print('hi')\"")
        shot(page, "wizard-details")
        page.get_by_role("button", name="Submit job").click()
        expect(page).to_have_url(re.compile(r"/jobs/job_"))
        expect(page.locator("#job-live h1 .badge")).to_have_text("Succeeded", timeout=30_000)
        expect(page.locator("#job-log pre")).to_contain_text("hi")

        page.goto(url + "/submit/yaml")
        page.get_by_label("Job spec (YAML)").fill(
            "command: echo hi\nresources: {accelerator: {count: many}}\n"
        )
        page.get_by_role("button", name="Check").click()
        expect(page.locator("#yaml-problems")).to_contain_text("resources.accelerator.count")
        expect(page.get_by_label("Job spec (YAML)")).to_have_attribute("aria-invalid", "true")
        shot(page, "yaml-error")
        axe_check(page, "the YAML editor")

        page.get_by_role("link", name="Usage", exact=True).click()  # bills first
        expect(page.locator("#spend-chart[data-chart-ready='true'] canvas")).to_be_visible()
        expect(page.get_by_text("welcome-credit")).to_be_visible()
        shot(page, "bills")
        axe_check(page, "the bills page")
        page.get_by_role("button", name="中文").click()
        expect(page.get_by_role("heading", name="账单", exact=True)).to_be_visible()
        expect(page.locator("#spend-chart[data-chart-ready='true'] canvas")).to_be_visible()
        shot(page, "bills-zh")
        page.get_by_role("button", name="English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")

        # The dashboard: this month's spend against the budget, and the quota the operator set.
        page.get_by_role("link", name="Dashboard").click()
        expect(page.locator("#spend-meter")).to_be_visible()
        quota = page.locator("section", has=page.get_by_role("heading", name="Quota of acme"))
        expect(quota.get_by_role("rowheader", name="A100-80GB")).to_be_visible()
        expect(page.get_by_role("link", name="wizard-hi")).to_be_visible()
        shot(page, "dashboard-budget")
        axe_check(page, "the dashboard with a budget and a quota")

        estimate = "/submit/estimate?scenario=llm-finetune&params=7B&tokens=1B"
        tour = {
            "/": "dashboard-narrow",
            estimate: "wizard-narrow",
            "/submit/yaml": "yaml-narrow",
            "/bills": "bills-narrow",
            "/tokens": "tokens-narrow",
            "/secrets": "secrets-narrow",
        }
        narrow = narrow_tour(chromium, watch, page, url, tour)
        narrow.goto(url + "/bills")  # the budgets' table scrolls inside its card
        budgets = narrow.locator("section", has=narrow.locator("#budgets-title"))
        expect(budgets.locator(".table-wrap")).to_have_attribute("tabindex", "0")
        narrow.context.close()
        problems = list(watch.problems)
    finally:
        page.context.close()
    assert not problems, "\n".join(problems)


def test_the_monthly_report_and_the_federation_page(site: Site, chromium: Any) -> None:
    """The operator's monthly report: its charts drawn within the page's CSP, in English
    and Chinese and on a narrow screen, with its CSV and PDF a click away; the federation page
    of a site that is in no federation says so."""
    from playwright.sync_api import expect

    url = site.server.url
    small = {"cpu": "100m", "memory": "64MiB"}
    job = submit(site.api, site.alice, name="in-the-report", command="true", resources=small)
    wait_job(site.api, site.alice, job["id"], TERMINAL)
    watch = Watch()
    page = open_page(chromium, watch)
    try:
        sign_in_as_operator(page, url, site.server.token)
        page.get_by_role("link", name="Monthly report").click()
        expect(page.get_by_role("heading", name="Monthly report", exact=True)).to_be_visible()
        for chart in ("#utilization-chart", "#tenants-chart"):
            expect(page.locator(f"{chart}[data-chart-ready='true'] canvas")).to_be_visible()
        # Energy is metered on real devices only: this site's GPUs are simulated.
        expect(page.get_by_text("No real device drew metered energy")).to_be_visible()
        shot(page, "report")
        axe_check(page, "the monthly report")
        for link, kind in (("Download CSV", "text/csv"), ("Download PDF", "application/pdf")):
            with page.expect_download() as download:
                page.get_by_role("link", name=link).click()
            assert Path(download.value.path()).stat().st_size > 100, link
            href = page.get_by_role("link", name=link).get_attribute("href")
            answer = page.request.get(url + href)
            assert answer.ok and answer.headers["content-type"].startswith(kind), href

        page.get_by_role("button", name="中文").click()
        expect(page.get_by_role("heading", name="月度报告", exact=True)).to_be_visible()
        expect(page.locator("#tenants-chart[data-chart-ready='true'] canvas")).to_be_visible()
        shot(page, "report-zh")
        page.get_by_role("button", name="English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")

        page.get_by_role("link", name="Federation").click()
        expect(page.get_by_role("heading", name="Federation", exact=True)).to_be_visible()
        shot(page, "federation")
        axe_check(page, "the federation page")
        tour = {"/center/reports": "report-narrow", "/center/federation": "federation-narrow"}
        narrow_tour(chromium, watch, page, url, tour).context.close()
        problems = list(watch.problems)
    finally:
        page.context.close()
    assert not problems, "\n".join(problems)
