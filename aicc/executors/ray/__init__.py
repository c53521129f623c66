"""The Ray executor: replicas as Ray jobs, driven through Ray's Jobs API.

An optional extra: `pip install 'aicc[ray]'`.

Ray's SDK is imported only when the executor talks to a cluster (`client.py`), so importing
this package needs no Ray.
"""

from aicc.executors.ray.client import RayError, RayUnavailable
from aicc.executors.ray.executor import RayExecutor

__all__ = ["RayError", "RayExecutor", "RayUnavailable"]
