"""The submit wizard's workdir and a job's terminal page, without a browser: a .tar, a .tar.gz
or a folder's files sent with the form become the job's workdir through the same store and
check as `aicc job submit`'s upload (the job runs the script in it), a .zip or an unsafe name
is refused on the form in the reader's language, a form over the upload limit is a 413 before
it is read; the terminal page opens for the job's member in en and zh-CN, is a 404 for another
tenant and a 403 for a viewer, and its websocket refuses another site's page."""

from __future__ import annotations

import io
import tarfile
from typing import Any

import pytest
from fastapi.testclient import TestClient
from portal_support import Person, csrf_of, shown, signed_in, submit, wait_job
from starlette.testclient import WebSocketDenialResponse

from aicc.testing.jobs import tar_gz

FIELDS = {"name": "", "project": "", "replicas": "1", "cpu": "100m", "memory": "64MiB"}
FIELDS |= {"count": "0", "image": "", "accelerator": "", "max_runtime": "", "scenario_json": ""}


def _tar(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def _post(browser: TestClient, command: str, files: list[tuple[str, Any]], key: str) -> Any:
    form = {**FIELDS, "command": command, "key": key, "csrf": csrf_of(browser, "/submit")}
    return browser.post("/submit", data=form, files=files, follow_redirects=False)


SCRIPT = b"print('ran the uploaded code')\n"


@pytest.mark.parametrize(
    "sent",
    [
        [("workdir_archive", ("code.tar", _tar({"main.py": SCRIPT}), "application/x-tar"))],
        [("workdir_archive", ("code.tgz", tar_gz({"main.py": SCRIPT}), "application/gzip"))],
        [("workdir_files", ("proj/main.py", SCRIPT, "text/x-python"))],
    ],
    ids=["tar", "tar.gz", "folder"],
)
def test_the_wizard_sends_a_workdir(api: TestClient, alice: Person, sent: Any) -> None:
    browser = signed_in(api, alice)
    answer = _post(browser, "python3 main.py", sent, key=f"k-{sent[0][1][0]}")
    assert answer.status_code == 303, shown(answer)
    job_id = answer.headers["location"].rsplit("/", 1)[1]
    job = wait_job(api, alice, job_id, {"succeeded", "failed"})
    assert job["state"] == "succeeded", job
    assert len(job["spec"]["workdir_sha256"]) == 64
    log = api.get(f"/api/v1/jobs/{job_id}/logs", headers=alice.headers).text
    assert log == "ran the uploaded code\n"
    # the organization's upload, as the CLI's is: its HEAD answers
    head = api.head(f"/api/v1/workdirs/{job['spec']['workdir_sha256']}", headers=alice.headers)
    assert head.status_code == 200


def test_what_the_wizard_refuses(api: TestClient, alice: Person) -> None:
    browser = signed_in(api, alice)
    zipped = [("workdir_archive", ("code.zip", b"PK\x03\x04" + b"\0" * 40, "application/zip"))]
    answer = _post(browser, "true", zipped, key="zip")
    assert answer.status_code == 422 and "a .zip archive is not read here" in shown(answer)
    outside = [("workdir_archive", ("evil.tar", _tar({"../evil.py": b"x"}), "application/x-tar"))]
    answer = _post(browser, "true", outside, key="dotdot")
    assert answer.status_code == 422 and "evil.py" in shown(answer)
    other = [("workdir_archive", ("notes.txt", b"just text", "text/plain"))]
    answer = _post(browser, "true", other, key="text")
    assert answer.status_code == 422 and "upload a folder, a .tar or a .tar.gz" in shown(answer)
    browser.post("/language", data={"csrf": csrf_of(browser), "language": "zh-CN"})
    answer = _post(browser, "true", zipped, key="zip-zh")
    assert "此处不读取 .zip 归档" in shown(answer)
    big = browser.post(
        "/submit",
        content=b"x" * 16,
        headers={"Content-Length": str(10**12), "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert big.status_code == 413 and "max_upload_mib" in big.text


def test_the_terminal_page(api: TestClient, alice: Person, bob: Person) -> None:
    job = submit(api, alice, command="sleep 300")
    wait_job(api, alice, job["id"], {"running"})
    browser = signed_in(api, alice)
    page = browser.get(f"/jobs/{job['id']}")
    assert f'href="/jobs/{job["id"]}/terminal"' in page.text
    page = browser.get(f"/jobs/{job['id']}/terminal")
    assert page.status_code == 200 and "data-terminal=" in page.text
    assert "aicc job exec " + job["id"] in shown(page)  # what to do without JavaScript
    # xterm.js's computed <style>s: inline styles on this page only, scripts still 'self' only
    policy = page.headers["content-security-policy"]
    assert "style-src 'self' 'unsafe-inline';" in policy and "script-src 'self';" in policy
    assert "/static/vendor/xterm.js" in page.text and "/static/vendor/xterm.css" in page.text
    strict = browser.get(f"/jobs/{job['id']}").headers["content-security-policy"]
    assert "style-src 'self';" in strict and "unsafe-inline" not in strict
    browser.post("/language", data={"csrf": csrf_of(browser), "language": "zh-CN"})
    assert "终端" in browser.get(f"/jobs/{job['id']}/terminal").text
    assert signed_in(api, bob).get(f"/jobs/{job['id']}/terminal").status_code == 404
    socket = f"/jobs/{job['id']}/terminal/socket"
    elsewhere = {"Origin": "https://elsewhere.example"}
    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        browser.websocket_connect(socket, headers=elsewhere),
    ):
        pass
    assert denied.value.status_code == 403
    api.post(f"/api/v1/jobs/{job['id']}/cancel", headers=alice.headers)
    wait_job(api, alice, job["id"], {"cancelled"})
    ended = browser.get(f"/jobs/{job['id']}/terminal")  # no console, no socket opened
    assert ended.status_code == 200 and "data-terminal=" not in ended.text
