"""The portal's front-end files, straight from the npm registry, without Node.js.

AICC's portal serves files from npm packages (htmx, ECharts, xterm.js and its fit addon). This
downloads the package tarballs that package-lock.json pins, checks each against the lock's
sha512 `integrity`, and copies the files the portal serves into aicc/portal/static/vendor/. A
machine with only Python can then run AICC from a clone; `npm ci` (scripts/build-portal.sh) is
needed only for the test tools. The registry is npm's unless `NPM_CONFIG_REGISTRY` (npm's own
variable) names a mirror.

    python3 scripts/fetch_portal_assets.py
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import sys
import tarfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "aicc" / "portal" / "static" / "vendor"
# package -> {file in its tarball: name under VENDOR}
SERVED = {
    "htmx.org": {"package/dist/htmx.min.js": "htmx.min.js", "package/LICENSE": "htmx.LICENSE"},
    "echarts": {
        "package/dist/echarts.min.js": "echarts.min.js",
        "package/LICENSE": "echarts.LICENSE",
    },
    # the terminal page's (portal/terminal.py): the UMD builds, which need no bundler
    "@xterm/xterm": {
        "package/lib/xterm.js": "xterm.js",
        "package/css/xterm.css": "xterm.css",
        "package/LICENSE": "xterm.LICENSE",
    },
    "@xterm/addon-fit": {
        "package/lib/addon-fit.js": "xterm-addon-fit.js",
        "package/LICENSE": "xterm-addon-fit.LICENSE",
    },
}


def registry() -> str:
    return os.environ.get("NPM_CONFIG_REGISTRY", "https://registry.npmjs.org/").rstrip("/")


def tarball(name: str, version: str) -> str:
    return f"{registry()}/{name}/-/{name.split('/')[-1]}-{version}.tgz"


def verified(data: bytes, integrity: str, what: str) -> bytes:
    """`data` if its digest is the lock's `integrity` (`sha512-<base64>`); else stop."""
    algorithm, _, expected = integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise SystemExit(f"ERROR: {what}: its {algorithm} is not the one package-lock.json pins")
    return data


def fetch(name: str, locked: dict[str, str]) -> None:
    url = tarball(name, locked["version"])
    try:
        with urllib.request.urlopen(url, timeout=60) as answer:
            data = verified(answer.read(), locked["integrity"], url)
    except OSError as err:
        raise SystemExit(
            f"ERROR: could not download {url} ({err}). Reach the npm registry, or name a mirror "
            "in NPM_CONFIG_REGISTRY, then run again: python3 scripts/fetch_portal_assets.py"
        ) from None
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member, target in SERVED[name].items():
            source = tar.extractfile(member)
            if source is None:
                raise SystemExit(f"ERROR: {url} holds no {member}")
            partial = VENDOR / (target + ".part")
            partial.write_bytes(source.read())
            partial.replace(VENDOR / target)  # whole or absent
    print(f"portal assets: {name} {locked['version']} ({', '.join(SERVED[name].values())})")


def main() -> None:
    lock = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    VENDOR.mkdir(parents=True, exist_ok=True)
    for name in SERVED:
        fetch(name, lock[f"node_modules/{name}"])
    (VENDOR / ".built").touch()


if __name__ == "__main__":
    sys.exit(main())
