"""The embedded registry's configuration: Distribution's `config.yml` as AICC writes it
(storage, loopback address, AICC as token server, notifications to AICC with a secret header).
The process that serves it is `aicc/registry_process.py`'s (services start no processes)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from aicc.config import RegistrySettings
from aicc.services.images.keys import notify_secret, registry_folder, signing_key
from aicc.services.images.tokens import ISSUER

SECRET_HEADER = "X-AICC-Registry-Secret"


@dataclass(frozen=True)
class Layout:
    """Where one registry's files are: its config, storage and log."""

    folder: Path
    storage: Path

    @property
    def config(self) -> Path:
        return self.folder / "config.yml"

    @property
    def log(self) -> Path:
        return self.folder / "registry.log"


def layout(home: Path, settings: RegistrySettings) -> Layout:
    folder = registry_folder(home)
    return Layout(folder, settings.storage_dir or folder / "storage")


def write_config(
    home: Path, settings: RegistrySettings, *, aicc_url: str, listen: str | None = None
) -> Layout:
    """Write the registry's config.yml (0600) for a server reachable at `aicc_url`; `listen`
    overrides the settings' address (tests pick a free port)."""
    where = layout(home, settings)
    where.storage.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = signing_key(where.folder)
    base = aicc_url.rstrip("/")
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(where.storage)},
            "delete": {"enabled": True},
            "cache": {"blobdescriptor": "inmemory"},
        },
        "http": {
            "addr": listen or settings.listens_on,
            "secret": secrets.token_urlsafe(24),
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        },
        "auth": {
            "token": {
                "realm": settings.token_realm or f"{base}/api/v1/registry/token",
                "service": settings.service,
                "issuer": ISSUER,
                "rootcertbundle": str(key.cert_path),
            }
        },
        "notifications": {
            "endpoints": [
                {
                    "name": "aicc",
                    "url": f"{base}/api/v1/registry/events",
                    "headers": {SECRET_HEADER: [notify_secret(where.folder)]},
                    "timeout": "5s",
                    "threshold": 5,
                    "backoff": "2s",
                    "ignore": {"actions": ["pull"]},
                }
            ]
        },
    }
    where.config.touch(mode=0o600)
    where.config.write_text(yaml.safe_dump(config, sort_keys=False))
    return where
