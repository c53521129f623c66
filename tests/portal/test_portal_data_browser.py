"""The data set pages in a real browser (Debian's Chromium, `/usr/bin/chromium`, driven by
Playwright) against a real `aicc serve` process: a person creates a data set, uploads files and
a folder of images with the upload form (XHR, with its progress bar), sees the preview table and
the column charts drawn by ECharts, the thumbnails, a second version's diff, and the catalog; in
English and Chinese, on a wide and a narrow screen, with no console error and no serious
accessibility violation. Screenshots go to tests/artifacts/portal/data-*.png."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from portal_support import Person, make_person
from test_portal_browser import (
    ARTIFACTS,
    NARROW,
    Watch,
    axe_check,
    chromium,
    fits_the_screen,
    open_page,
    portal_server,
    shot,
    sign_in,
)

pytestmark = pytest.mark.slow
__all__ = ["chromium"]  # the browser fixture, shared with the portal's other browser tests


def measurements(rows: int, seed: int) -> bytes:
    rng = random.Random(seed)
    lines = ["sepal_length,petal_width,species,site"]
    for _ in range(rows):
        species = rng.choice(["setosa", "versicolor", "virginica"])
        base = {"setosa": 5.0, "versicolor": 5.9, "virginica": 6.6}[species]
        sepal = round(rng.gauss(base, 0.4), 1)
        petal = round(max(0.1, rng.gauss(base - 4.6, 0.3)), 1)
        lines.append(f"{sepal},{petal},{species},{rng.choice(['north', 'south'])}")
    return ("\n".join(lines) + "\n").encode()


def image_folder(root: Path) -> Path:
    """photos/<class>/<n>.png: small coloured images, two classes."""
    folder = root / "photos"
    for label, colour in (("cat", (214, 110, 60)), ("dog", (70, 110, 200))):
        (folder / label).mkdir(parents=True)
        for n in range(4 if label == "cat" else 3):
            image = Image.new("RGB", (96, 72), colour)
            for x in range(0, 96, 12):
                for y in range(72):
                    image.putpixel((x + n % 12, y), (255, 255, 255))
            out = io.BytesIO()
            image.save(out, "PNG")
            (folder / label / f"{n}.png").write_bytes(out.getvalue())
    return folder


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Person]]:
    config = {"loop_interval_s": 0.5, "limits": {"max_upload_mib": 1}}
    with portal_server(tmp_path_factory, "portal-data", config) as (server, api):
        yield server.url, make_person(api, "lab", "dana")


def test_a_data_set_is_uploaded_previewed_charted_and_compared(
    served: tuple[str, Person], chromium: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    url, dana = served
    watch = Watch()
    page = open_page(chromium, watch)
    sign_in(page, url, dana)

    page.get_by_role("link", name="Data", exact=True).click()
    expect(page.locator("main h1")).to_have_text("Data sets")
    page.get_by_label("Name", exact=True).fill("iris-field")
    page.get_by_label("Description").fill("Field measurements of iris flowers, with photos")
    page.get_by_label("Licence").fill("CC-BY-4.0")
    page.get_by_label("Tags").fill("tabular, images")
    page.get_by_role("button", name="Create data set").click()
    expect(page.locator(".alert-ok")).to_contain_text("Data set iris-field is created")

    # Files and a folder through the upload form: sent by XHR, the page then shows version 1.
    (tmp_path / "measurements.csv").write_bytes(measurements(240, 1))
    page.set_input_files("#upload-files", str(tmp_path / "measurements.csv"))
    page.set_input_files("#upload-folder", str(image_folder(tmp_path)))
    page.get_by_label("Message").fill("first field season")
    page.get_by_role("button", name="Upload", exact=True).click()
    page.wait_for_url("**uploaded=1**")
    expect(page.locator(".alert-ok")).to_contain_text("Uploaded as iris-field@1")
    expect(page.locator(".preview-table tbody tr")).to_have_count(20)
    expect(page.locator(".preview-table")).to_contain_text("versicolor")
    charts = page.locator("[data-chart-ready] canvas")
    expect(charts).to_have_count(4)  # one per column, drawn
    expect(page.locator(".thumb img")).to_have_count(7)
    expect(page.locator(".chip", has_text="cat: 4")).to_have_count(1)
    shot(page, "data-set")
    axe_check(page, "a data set")

    # Files and a folder sent together keep the folder's name; one class's folder: its images.
    page.get_by_role("link", name="photos/").click()
    page.get_by_role("link", name="cat/").click()
    expect(page.locator(".thumb img")).to_have_count(4)
    shot(page, "data-images")

    # A second season: more rows; the comparison counts them.
    (tmp_path / "measurements.csv").write_bytes(
        measurements(240, 1) + measurements(60, 2).split(b"\n", 1)[1]
    )
    page.goto(url + "/data/iris-field")
    page.set_input_files("#upload-files", str(tmp_path / "measurements.csv"))
    page.get_by_label("Message").fill("second season")
    page.get_by_role("button", name="Upload", exact=True).click()
    page.wait_for_url("**uploaded=2**")
    page.get_by_role("link", name="Compare @1 → @2").click()
    diff = page.locator("section", has=page.locator("#diff-title"))
    expect(diff).to_contain_text("measurements.csv")
    expect(diff).to_contain_text("rows: +60 −0")
    diff.get_by_text("Show some of these rows").click()
    expect(diff.locator("tr.row-added")).to_have_count(10)
    shot(page, "data-diff")

    # A query over the version's tables, answered on the page.
    page.get_by_label("SQL").fill(
        "SELECT species, count(*) AS plants, round(avg(sepal_length), 2) AS sepal "
        "FROM measurements GROUP BY species ORDER BY species"
    )
    page.get_by_role("button", name="Run", exact=True).click()
    answer = page.locator("section", has=page.locator("#query-title"))
    expect(answer.get_by_role("status")).to_contain_text("3 rows in")
    expect(answer.locator("tbody tr").first).to_contain_text("setosa")
    answer.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "data-query.png"))

    # Over the upload limit: said at once, nothing sent.
    (tmp_path / "big.bin").write_bytes(b"\0" * (3 << 19))
    page.set_input_files("#upload-files", str(tmp_path / "big.bin"))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#upload-error")).to_contain_text("over the 1 MiB limit")
    expect(page.locator("#upload-progress")).to_be_hidden()

    # A slow link: the bar shows how much is sent.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    slow = {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 200_000}
    cdp.send("Network.emulateNetworkConditions", slow)
    (tmp_path / "notes.bin").write_bytes(random.Random(3).randbytes(700_000))
    page.set_input_files("#upload-files", str(tmp_path / "notes.bin"))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#upload-progress")).to_be_visible()
    page.wait_for_timeout(1200)  # a second at 200 kB/s: a part of the 700 kB is on its way
    bar = page.locator("#upload-progress")
    expect(bar).not_to_have_attribute("value", "0")
    expect(page.locator("#upload-status")).to_contain_text("%")
    page.locator("#upload-title").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "data-upload-progress.png"))
    page.wait_for_url("**uploaded=3**", timeout=30_000)
    cdp.send("Network.emulateNetworkConditions", {**slow, "uploadThroughput": -1, "latency": 0})

    page.goto(url + "/data")
    row = page.locator("tbody tr", has=page.get_by_role("link", name="iris-field"))
    expect(row).to_contain_text("@3")
    expect(row).to_contain_text("Private")
    shot(page, "data-catalog")
    axe_check(page, "the data catalog")

    # In Chinese, and on a narrow screen.
    page.get_by_role("button", name="中文").click()
    expect(page.locator("main h1")).to_have_text("数据集")
    shot(page, "data-catalog-zh")
    narrow = open_page(chromium, watch, NARROW, storage_state=page.context.storage_state())
    for path, name in (("/data", "data-catalog-narrow"), ("/data/iris-field", "data-set-narrow")):
        narrow.goto(url + path)
        expect(narrow.locator("main h1").first).to_be_visible()
        fits_the_screen(narrow, path)
        shot(narrow, name)
        axe_check(narrow, f"{path} at {NARROW['width']} px")
    assert not watch.problems, "\n".join(watch.problems)
