"""AICC, an operating system for AI computing centers.

`aicc.Client` is the Python SDK. Importing it is cheap: the HTTP stack loads on first use.
"""

from aicc.sdk.client import ApiError, Client

__all__ = ["ApiError", "Client", "__version__"]

__version__ = "0.1.0"
