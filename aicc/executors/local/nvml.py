"""NVML opened for one reading: the machine's NVIDIA driver through nvidia-ml-py, or why it
cannot be read here (no package, no driver), so each reader says only what it reads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class NoNvml(Exception):
    """NVML cannot be read on this machine; the message says why."""


@contextmanager
def nvml() -> Iterator[Any]:
    """`pynvml`, initialised for the block and shut down after it."""
    try:
        import pynvml
    except ImportError as err:
        raise NoNvml("nvidia-ml-py is not installed") from err
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as err:
        raise NoNvml(f"no NVIDIA driver ({err})") from err
    try:
        yield pynvml
    finally:
        pynvml.nvmlShutdown()


def text(value: bytes | str) -> str:
    """A name or version as a str: older nvidia-ml-py releases return bytes."""
    return value.decode() if isinstance(value, bytes) else str(value)
