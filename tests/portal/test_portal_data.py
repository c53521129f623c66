"""The data set pages through TestClient, as a browser without JavaScript uses them: the catalog,
creating a set, uploading files and a folder as versions, browsing, previews, column profiles,
thumbnails, diffs, editing and deleting; in English and Chinese. Another tenant's private set is
the 404 page, a public one is read-only."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from portal_support import Person, csrf_of, make_person, signed_in, unique

from aicc.api.state import AppState
from aicc.portal import data
from aicc.services.data import uploads
from aicc.services.tenancy import tenancy
from aicc.store.tables.tenancy import UserRow
from aicc.testing.servers import in_process

CSV_1 = b"sepal,petal,species\n5.1,1.4,setosa\n4.9,1.4,setosa\n6.3,6.0,virginica\n"
CSV_2 = CSV_1 + b"5.8,5.1,virginica\n"


def png(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(out, "PNG")
    return out.getvalue()


def post(client: TestClient, path: str, page: str, **form: str) -> httpx.Response:
    """A form of `page` posted with that page's CSRF token, as the browser would."""
    answer: httpx.Response = client.post(
        path, data={"csrf": csrf_of(client, page), **form}, follow_redirects=False
    )
    return answer


def upload(
    client: TestClient, name: str, project: str, files: list[tuple[str, bytes]], **form: str
) -> httpx.Response:
    """The upload form posted plainly (multipart), each file under its path in the folder."""
    where = quote(project, safe="")
    page = f"/data/{name}?project={where}"
    parts = [("files", (path, data, "application/octet-stream")) for path, data in files]
    answer: httpx.Response = client.post(
        f"/data/{name}/upload?project={where}",
        data={"csrf": csrf_of(client, page), **form},
        files=parts,
        follow_redirects=False,
    )
    return answer


def qualified(api: TestClient, person: Person) -> str:
    """ORG/PROJECT of the person's default project, as the pages name it."""
    me = api.get("/api/v1/me", headers=person.headers).json()
    project = next(p for p in me["projects"] if p["id"] == person.project_id)
    return f"{me['org']['name']}/{project['name']}"


def test_a_set_is_made_uploaded_browsed_and_deleted_without_javascript(
    api: TestClient, alice: Person
) -> None:
    client = signed_in(api, alice)
    catalog = client.get("/data")
    assert catalog.status_code == 200
    assert 'href="/data" aria-current="page">Data<' in catalog.text
    assert "This project has no data set yet" in catalog.text

    made = post(
        client,
        "/data",
        "/data",
        project=alice.project_id,
        name="iris",
        visibility="private",
        description="Fisher's flowers",
        licence="CC-BY-4.0",
        source="https://archive.ics.uci.edu/dataset/53/iris",
        tags="tabular, flowers",
    )
    assert made.status_code == 303
    where = qualified(api, alice)
    assert made.headers["location"] == f"/data/iris?project={quote(where, safe='')}&created=1"
    page = client.get(made.headers["location"]).text
    assert "Data set iris is created" in page and "No version yet" in page
    assert "CC-BY-4.0" in page and "flowers" in page

    # A folder picked in the browser: its own name is dropped from the paths.
    files = [
        ("iris/train.csv", CSV_1),
        ("iris/images/cat/1.png", png((200, 40, 40))),
        ("iris/images/cat/2.png", png((220, 60, 60))),
        ("iris/images/dog/3.png", png((40, 40, 200))),
    ]
    # No file chosen: the browser sends an empty part; said on the page.
    empty = upload(client, "iris", where, [("", b"")])
    assert empty.status_code == 422 and "choose at least one file to upload" in empty.text
    sent = upload(client, "iris", where, files, message="first cut")
    assert sent.status_code == 303 and "uploaded=1" in sent.headers["location"]
    page = client.get(sent.headers["location"]).text
    assert "Uploaded as iris@1." in page and "first cut" in page
    assert ">images/<" in page and "train.csv" in page
    # The first table file is previewed, and each column profiled with a chart.
    assert "Preview of train.csv" in page and "virginica" in page and "first 3 of 3 rows" in page
    assert page.count("data-chart=") == 3 and "Histogram of sepal" in page
    assert "echarts.min.js" in page or "assets" not in page

    folder = client.get(f"/data/iris?project={quote(where)}&dir=images/").text
    assert "Images (3)" in folder and "cat: 2" in folder and "dog: 1" in folder
    assert folder.count('src="data:image/png;base64,') == 3

    # Nothing new: the same version, said so.
    again = upload(client, "iris", where, [("train.csv", CSV_1)], keep="1")
    assert "unchanged=1" in again.headers["location"]
    # One more row, keeping the images: version 2; the diff counts the row.
    second = upload(client, "iris", where, [("train.csv", CSV_2)], keep="1", message="more")
    assert "uploaded=2" in second.headers["location"]
    diff = client.get(f"/data/iris?project={quote(where)}&version=2&diff=1").text
    assert "Changes from iris@1 to iris@2" in diff
    assert re.search(r"changed</span> <span class=\"mono\">train.csv</span>", diff)
    changes = diff[diff.index('id="diff-title"') :].split("</section>")[0]
    assert "rows: +1 −0" in changes and "images/" not in changes  # unchanged files not listed
    added = re.search(r'<tr class="row-added">(.*?)</tr>', changes, re.S)
    assert added is not None and "5.8" in added.group(1) and "virginica" in added.group(1)
    versions = api.get("/api/v1/datasets/iris/versions", headers=alice.headers).json()["items"]
    assert [(v["number"], v["file_count"]) for v in versions] == [(2, 4), (1, 4)]

    # Search, on the server.
    assert ">iris</a>" in client.get("/data?q=FLOWERS").text
    nothing = client.get("/data?q=weather").text
    assert ">iris</a>" not in nothing and "No data set matches this search" in nothing

    # Edit: what is typed shows; a bad value is said next to its field.
    edited = post(
        client,
        f"/data/iris/edit?project={quote(where)}",
        f"/data/iris?project={quote(where)}",
        visibility="org",
        description="Iris flowers, 150 rows",
        licence="CC0",
        source="",
        tags="tabular",
    )
    assert edited.status_code == 303 and "saved=1" in edited.headers["location"]
    page = client.get(edited.headers["location"]).text
    assert "Iris flowers, 150 rows" in page and "Organization" in page and "CC0" in page
    wrong = post(
        client,
        f"/data/iris/edit?project={quote(where)}",
        f"/data/iris?project={quote(where)}",
        visibility="everyone",
        tags="x" * 65,
    )
    assert wrong.status_code == 422
    assert 'id="edit-visibility-error"' in wrong.text and 'id="edit-tags-error"' in wrong.text
    assert api.get("/api/v1/datasets/iris", headers=alice.headers).json()["visibility"] == "org"

    # Create: a taken name, a bad name.
    taken = post(client, "/data", "/data", project=alice.project_id, name="iris")
    assert taken.status_code == 422 and 'id="dataset-name-error"' in taken.text
    bad = post(client, "/data", "/data", project=alice.project_id, name="Bad Name")
    assert bad.status_code == 422 and 'id="dataset-name-error"' in bad.text

    # No CSRF token, no change.
    for path in ("/data", f"/data/iris/delete?project={quote(where)}"):
        assert client.post(path, data={"name": "x", "csrf": "forged"}).status_code == 400

    gone = post(
        client, f"/data/iris/delete?project={quote(where)}", f"/data/iris?project={quote(where)}"
    )
    assert (gone.status_code, gone.headers["location"]) == (303, "/data?deleted=iris")
    assert "Data set iris is deleted." in client.get(gone.headers["location"]).text
    assert client.get(f"/data/iris?project={quote(where)}").status_code == 404


def test_the_pages_read_in_chinese(api: TestClient, alice: Person) -> None:
    client = signed_in(api, alice)
    name = f"zh-{unique()}"
    post(client, "/data", "/data", project=alice.project_id, name=name, tags="文本")
    upload(client, name, qualified(api, alice), [("a.csv", CSV_1)])
    client.post("/language", data={"csrf": csrf_of(client), "language": "zh-CN"})
    catalog = client.get("/data").text
    assert '<html lang="zh-CN"' in catalog and ">数据<" in catalog and "新建数据集" in catalog
    assert "开放数据目录" in catalog and "文本" in catalog
    page = client.get(f"/data/{name}?project={quote(qualified(api, alice))}").text
    assert "上传新版本" in page and "a.csv 的预览" in page and "列概况" in page and "私有" in page


def test_another_tenants_private_set_is_a_404_and_a_public_one_is_read_only(
    api: TestClient, alice: Person, bob: Person
) -> None:
    owner, other = signed_in(api, alice), signed_in(api, bob)
    where = qualified(api, alice)
    post(owner, "/data", "/data", project=alice.project_id, name="secret-set")
    upload(owner, "secret-set", where, [("labels.csv", CSV_1)])
    # The org admin publishes a set of alice's project to the open catalog.
    public = api.post(
        "/api/v1/datasets",
        json={"name": "open-set", "project": alice.project_id, "visibility": "public"},
    )
    assert public.status_code == 201, public.text
    upload(owner, "open-set", where, [("open.csv", CSV_1)])

    hidden = other.get(f"/data/secret-set?project={quote(where)}")
    assert hidden.status_code == 404 and "setosa" not in hidden.text
    assert "secret-set" not in other.get("/data?scope=visible").text
    for path, form in (
        ("edit", {"description": "mine now", "visibility": "public"}),
        ("delete", {}),
    ):
        refused = post(other, f"/data/secret-set/{path}?project={quote(where)}", "/data", **form)
        assert refused.status_code == 404
    sneaked = other.post(
        f"/data/secret-set/upload?project={quote(where)}",
        data={"csrf": csrf_of(other, "/data")},
        files=[("files", ("x.csv", b"a\n1\n", "text/csv"))],
    )
    assert sneaked.status_code == 404

    listed = other.get("/data?scope=public").text
    assert ">open-set</a>" in listed and "secret-set" not in listed
    page = other.get(f"/data/open-set?project={quote(where)}")
    assert page.status_code == 200 and "Preview of open.csv" in page.text
    assert "Read-only" in page.text
    assert "data-upload" not in page.text and "Delete data set" not in page.text
    assert "/edit?" not in page.text
    for path, form in (("edit", {"description": "defaced"}), ("delete", {})):
        refused = post(other, f"/data/open-set/{path}?project={quote(where)}", "/data", **form)
        assert refused.status_code in (403, 404)
    pushed = other.post(
        f"/data/open-set/upload?project={quote(where)}",
        data={"csrf": csrf_of(other, "/data")},
        files=[("files", ("open.csv", b"a\n1\n", "text/csv"))],
    )
    assert pushed.status_code in (403, 404)
    mine = api.get("/api/v1/datasets/open-set", headers=alice.headers).json()
    assert (mine["latest"], mine["description"]) == (1, "")
    assert api.get("/api/v1/datasets/secret-set", headers=alice.headers).json()["latest"] == 1


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A server whose uploads stop at 2 MiB, and any other request body at 1 MiB."""
    home: Path = tmp_path_factory.mktemp("small") / "home"
    with in_process(home, None, limits={"max_upload_mib": 2, "max_request_mib": 1}) as (api, _):
        yield api


def test_an_upload_streams_past_the_body_limit_up_to_its_own(small: TestClient) -> None:
    person = make_person(small, f"lab-{unique()}", f"carol-{unique()}")
    client = signed_in(small, person)
    where = qualified(small, person)
    post(client, "/data", "/data", project=person.project_id, name="blobs")
    fits = upload(client, "blobs", where, [("a.bin", b"\x01" * (3 << 19))])  # 1.5 MiB
    assert fits.status_code == 303 and "uploaded=1" in fits.headers["location"]

    over = upload(client, "blobs", where, [("b.bin", b"\x02" * (5 << 19))])  # 2.5 MiB
    assert over.status_code == 413
    assert "exceeds the limit of 2 MiB" in over.text and "aicc data push" in over.text
    assert small.get("/api/v1/datasets/blobs", headers=person.headers).json()["latest"] == 1


def test_a_big_table_is_profiled_when_asked(
    api: TestClient, alice: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data, "PROFILE_AUTO_BYTES", len(CSV_1) - 1)
    client = signed_in(api, alice)
    name = f"big-{unique()}"
    post(client, "/data", "/data", project=alice.project_id, name=name)
    where = quote(qualified(api, alice))
    upload(client, name, qualified(api, alice), [("big.csv", CSV_1)])
    page = client.get(f"/data/{name}?project={where}").text
    assert "Preview of big.csv" in page and "virginica" in page  # the first rows, still
    assert "data-chart=" not in page and "Profile its columns" in page
    link = re.search(r'href="([^"]*profile=1[^"]*)#profile-title"', page)
    assert link is not None
    asked = client.get(html.unescape(link.group(1))).text
    assert asked.count("data-chart=") == 3 and "Profile its columns" not in asked


def test_a_version_a_job_made_links_the_job_and_the_sets_it_read(
    site: tuple[TestClient, AppState], alice: Person
) -> None:
    api, state = site
    client = signed_in(api, alice)
    where = qualified(api, alice)
    for name in ("raw-text", "clean-text"):
        post(client, "/data", "/data", project=alice.project_id, name=name)
    upload(client, "raw-text", where, [("a.jsonl", b'{"text": "hello"}\n')])
    with state.db.session() as session:
        who = tenancy.principal_of(session, session.get(UserRow, alice.user_id))  # type: ignore[arg-type]
        uploads.ingest(
            session,
            who,
            state.chunks,
            "clean-text",
            None,
            [("a.jsonl", b'{"text": "hello"}\n')],
            "cleaned",
            lineage={"job_id": "job_01ABC", "datasets": ["raw-text@1", f"{where}/raw-text@1"]},
        )
    page = client.get(f"/data/clean-text?project={quote(where)}").text
    assert '<a href="/jobs/job_01ABC">job job_01ABC</a>' in page
    assert 'href="/data/raw-text?version=1">raw-text@1</a>' in page
    qualified_link = html.escape(f"/data/raw-text?{urlencode({'project': where, 'version': 1})}")
    assert f'href="{qualified_link}">{where}/raw-text@1</a>' in page


def test_too_many_files_are_said_on_the_page(
    api: TestClient, alice: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data, "MAX_UPLOAD_FILES", 2)
    client = signed_in(api, alice)
    name = f"many-{unique()}"
    post(client, "/data", "/data", project=alice.project_id, name=name)
    where = qualified(api, alice)
    refused = upload(client, name, where, [(f"{n}.txt", b"x") for n in range(3)])
    assert refused.status_code == 400
    assert "at most 2 files at once" in refused.text and 'data-max-files="2"' in refused.text
    assert api.get(f"/api/v1/datasets/{name}", headers=alice.headers).json()["latest"] is None


def test_a_query_runs_over_a_versions_tables(api: TestClient, alice: Person) -> None:
    client = signed_in(api, alice)
    name = f"q-{unique()}"
    post(client, "/data", "/data", project=alice.project_id, name=name)
    where = qualified(api, alice)
    upload(client, name, where, [("train.csv", CSV_2), ("notes.txt", b"not a table\n")])
    page = client.get(f"/data/{name}?project={quote(where)}").text
    assert 'id="query-sql"' in page and "<code>train</code>" in page
    sql = "SELECT species, count(*) AS n FROM train GROUP BY species ORDER BY n DESC, species"
    answer = client.get(f"/data/{name}", params={"project": where, "sql": sql}).text
    assert "2 rows in" in answer and html.escape(sql) in answer  # the query stays in its box
    result = answer[answer.index('id="query-title"') :].split("</section>")[0]
    cells = re.findall(r'<td class="mono small">([^<]*)</td>', result)
    assert cells == ["setosa", "2", "virginica", "2"]
    # Anything but one SELECT over the tables is refused on the page, in words.
    for bad, said in (
        ("COPY train TO '/tmp/x.csv'", "COPY"),
        ("SELECT * FROM read_csv('/etc/passwd')", "never other files"),
    ):
        refused = client.get(f"/data/{name}", params={"project": where, "sql": bad})
        assert refused.status_code == 200 and said in refused.text and "root:" not in refused.text


def test_a_set_is_rated_on_its_page_and_the_catalog_sorts_by_rating(
    api: TestClient, alice: Person, bob: Person
) -> None:
    owner, other = signed_in(api, alice), signed_in(api, bob)
    where = qualified(api, alice)
    n = unique()
    loved, plain = f"loved-{n}", f"plain-{n}"
    for name in (plain, loved):
        assert post(owner, "/data", "/data", project=alice.project_id, name=name).status_code == 303
    page_of = f"/data/{loved}?project={quote(where)}"
    rate = f"/data/{loved}/reviews?project={quote(where)}"
    first = owner.get(page_of).text
    assert "Ratings and reviews" in first and "No ratings yet" in first
    assert "Mounted by 0 jobs" in first and f'action="/data/{loved}/reviews?project=' in first

    # A bad rating is the page again, saying why next to the field; nothing is recorded.
    for value, said in (("0", "out of range"), ("6", "out of range"), ("x", "whole number")):
        refused = post(owner, rate, page_of, rating=value)
        assert refused.status_code == 422 and said in refused.text, value
    assert "This field is required" in post(owner, rate, page_of, rating="").text
    assert (
        api.get(f"/api/v1/datasets/{loved}/reviews", headers=alice.headers).json()["ratings"] == 0
    )

    done = post(owner, rate, page_of, rating="5", text="clean labels")
    assert done.status_code == 303 and "rated=5" in done.headers["location"]
    page = owner.get(done.headers["location"]).text
    assert "Your rating, 5 of 5, is saved" in page and "5 of 5, from 1 ratings" in page
    assert "clean labels" in page and "★★★★★" in page and '<option value="5" selected>' in page
    post(owner, rate, page_of, rating="3", text="some rows repeat")  # replaces the first
    page = owner.get(page_of).text
    assert "3 of 5, from 1 ratings" in page and "clean labels" not in page

    catalog = owner.get("/data?sort=rating").text
    assert catalog.index(f">{loved}</a>") < catalog.index(f">{plain}</a>")
    assert "3 of 5 (1)" in catalog and '<option value="rating" selected>' in catalog
    by_name = owner.get("/data").text
    assert by_name.index(f">{loved}</a>") < by_name.index(f">{plain}</a>")  # l before p
    assert owner.get("/data?sort=nonsense").status_code == 200  # by name, as listed

    # Another tenant can neither rate nor read the private set; a public one it rates.
    assert post(other, rate, "/data", rating="1").status_code == 404
    assert "some rows repeat" not in other.get(page_of).text
    public = api.post(
        "/api/v1/datasets",
        json={"name": f"open-{n}", "project": alice.project_id, "visibility": "public"},
    )
    assert public.status_code == 201, public.text
    open_page = f"/data/open-{n}?project={quote(where)}"
    assert (
        post(
            other, f"/data/open-{n}/reviews?project={quote(where)}", open_page, rating="4"
        ).status_code
        == 303
    )
    assert "4 of 5, from 1 ratings" in owner.get(open_page).text
    assert (
        api.get(f"/api/v1/datasets/{loved}/reviews", headers=alice.headers).json()["ratings"] == 1
    )

    owner.post("/language", data={"csrf": csrf_of(owner), "language": "zh-CN"})
    page = owner.get(page_of).text
    assert (
        "评分与评价" in page
        and "1 人评分，平均 3 分（满分 5 分）" in page
        and "已被 0 个作业挂载" in page
    )
