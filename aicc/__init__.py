"""AICC, an operating system for AI computing centers.

`aicc.Client` is the Python SDK. Importing it is cheap: the HTTP stack loads on first use.
`aicc.log_metrics` records a job's training curves from inside it (no server needed).
"""

from aicc.sdk.client import ApiError, Client
from aicc.sdk.metrics import log_metrics

__all__ = ["ApiError", "Client", "__version__", "log_metrics"]

__version__ = "0.1.0"
