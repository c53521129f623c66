"""Where to talk to, and as whom: server and token resolve as docs/contracts.md §6 says.

The CLI and the SDK share these, so `aicc login` and `aicc.Client()` always agree.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_SERVER = "http://127.0.0.1:8080"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
CREDENTIALS_FILE = "credentials.json"
ADMIN_TOKEN_FILE = "admin.token"
SERVER_URL_FILE = "server.url"  # what `aicc serve` writes in its home: where it listens


def aicc_home() -> Path:
    """`$AICC_HOME`, else `~/.aicc` (docs/contracts.md §7)."""
    return Path(os.environ.get("AICC_HOME") or "~/.aicc").expanduser()


def resolve_server(server: str | None = None) -> str:
    """The argument, else `AICC_SERVER`, else the server that runs on this machine with this
    home (its `server.url`, on whatever port it was given), else the local default; a bare host
    gets `http://`."""
    value = (server or os.environ.get("AICC_SERVER") or _local_server() or DEFAULT_SERVER).strip()
    value = value.rstrip("/")
    return value if "://" in value else f"http://{value}"


def _local_server() -> str | None:
    """The URL `aicc serve` wrote in `$AICC_HOME/server.url` while it runs; None without one."""
    try:
        found = (aicc_home() / SERVER_URL_FILE).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return found if is_local(found) else None  # it is the admin token's key: local ones only


def is_local(server: str) -> bool:
    """Only a server on this machine may be reached with the admin token found on disk."""
    return (urlsplit(server).hostname or "") in LOCAL_HOSTS


def load_credentials(home: Path | None = None) -> dict[str, str]:
    """The tokens `aicc login` saved, by server URL."""
    path = (home or aicc_home()) / CREDENTIALS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON; delete it and run `aicc login`") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} must map server URLs to tokens; delete it and run `aicc login`")
    return {str(key): str(value) for key, value in data.items()}


def save_token(server: str, token: str, home: Path | None = None) -> Path:
    """Remember `token` for `server` in credentials.json, readable by the owner only (0600)."""
    home = home or aicc_home()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    credentials = load_credentials(home)
    credentials[resolve_server(server)] = token
    path = home / CREDENTIALS_FILE
    # Write a private temporary file and rename it, so the token is never world-readable.
    fd, temp = tempfile.mkstemp(prefix=".credentials-", dir=home)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(credentials, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def resolve_token(server: str, token: str | None = None, home: Path | None = None) -> str | None:
    """The argument, else `AICC_TOKEN`, else the saved login, else admin.token if local."""
    if token:
        return token
    env = os.environ.get("AICC_TOKEN", "").strip()
    if env:
        return env
    home = home or aicc_home()
    saved = load_credentials(home).get(resolve_server(server))
    if saved:
        return saved
    if is_local(server):
        try:
            admin = (home / ADMIN_TOKEN_FILE).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return admin or None
    return None
