"""AICC, an operating system for AI computing centers.

`aicc.Client` is the Python SDK; `aicc.log_metrics` records a job's training curves from inside
it (no server needed). Both load on first use: every job's supervisor, every CLI call and every
tool imports this package first, and the SDK's read models cost a third of a second to import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aicc.sdk.client import ApiError, Client
    from aicc.sdk.metrics import log_metrics

__all__ = ["API_VERSION", "ApiError", "Client", "__version__", "log_metrics"]

__version__ = "0.1.0"
# The REST API's version (`AICC-API-Version`, aicc/api/versions.py): changed only by a change
# that breaks existing clients, so an SDK or CLI of another version is refused, saying so.
API_VERSION = "1"

_LAZY = {
    "ApiError": "aicc.sdk.client",
    "Client": "aicc.sdk.client",
    "log_metrics": "aicc.sdk.metrics",
}


def __getattr__(name: str) -> Any:
    """The SDK's names, imported when first asked for (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'aicc' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
