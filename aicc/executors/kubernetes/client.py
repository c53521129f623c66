"""The few API calls the executor makes, through the official `kubernetes` client.

The client is imported here, when an `Api` is made, never at import time: the rest of AICC runs
without it (`pip install 'aicc[kubernetes]'` adds it). Reads ask for the raw JSON
(`_preload_content=False`), so the executor sees exactly the API's objects as plain dicts, the
shapes `status.py` and `nodes.py` translate. Every call ends within `timeout_s`; a refusal or a
server that does not answer is a `KubernetesError` carrying the HTTP status when there is one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

Obj = dict[str, Any]


class KubernetesError(RuntimeError):
    """An API call failed or timed out; `status` is the HTTP status (404, 409 ...) if any."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Api:
    """One namespace of one cluster. `kubeconfig` (else `$KUBECONFIG`, else `~/.kube/config`)
    and `context` say which; inside a pod with no kubeconfig given, the pod's service account."""

    def __init__(
        self,
        *,
        namespace: str,
        kubeconfig: Path | None = None,
        context: str | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        try:
            from kubernetes import client
            from kubernetes import config as kube_config
        except ImportError:
            raise KubernetesError(
                "the Kubernetes executor needs the official client: pip install 'aicc[kubernetes]'"
            ) from None
        config: Any = kube_config  # its loaders are untyped
        try:
            if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
                configuration = client.Configuration()
                config.load_incluster_config(client_configuration=configuration)
                api_client = client.ApiClient(configuration)
            else:
                api_client = config.new_client_from_config(
                    config_file=str(kubeconfig) if kubeconfig else None, context=context
                )
        except Exception as err:  # the config loaders raise their own types, or plain ones
            raise KubernetesError(f"cannot load the Kubernetes configuration: {err}") from None
        self.namespace = namespace
        self.timeout_s = timeout_s
        self.core: Any = client.CoreV1Api(api_client)
        self.batch: Any = client.BatchV1Api(api_client)
        self.networking: Any = client.NetworkingV1Api(api_client)

    # ------------------------------------------------------------------ plumbing

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return method(*args, _request_timeout=self.timeout_s, **kwargs)
        except ApiException as err:
            detail = _api_message(err.body) or err.reason or "no message"
            raise KubernetesError(
                f"Kubernetes API: {err.status} {detail}", status=err.status
            ) from None
        except (HTTPError, OSError) as err:
            raise KubernetesError(f"the Kubernetes API did not answer: {err}") from None

    def _json(self, method: Any, *args: Any, **kwargs: Any) -> Obj:
        response = self._call(method, *args, _preload_content=False, **kwargs)
        data: Obj = json.loads(response.data or b"{}")
        return data

    # ------------------------------------------------------------------ reads

    def list_nodes(self, label_selector: str = "") -> list[Obj]:
        return list(self._json(self.core.list_node, label_selector=label_selector)["items"])

    def list_jobs(self, label_selector: str) -> list[Obj]:
        found = self._json(
            self.batch.list_namespaced_job, self.namespace, label_selector=label_selector
        )
        return list(found["items"])

    def list_pods(self, label_selector: str) -> list[Obj]:
        found = self._json(
            self.core.list_namespaced_pod, self.namespace, label_selector=label_selector
        )
        return list(found["items"])

    def read_job(self, name: str) -> Obj | None:
        try:
            return self._json(self.batch.read_namespaced_job, name, self.namespace)
        except KubernetesError as err:
            if err.status == 404:
                return None
            raise

    def pod_log(self, pod: str, container: str) -> bytes:
        """The container's whole log (Kubernetes keeps stdout and stderr as one)."""
        response = self._call(
            self.core.read_namespaced_pod_log,
            pod,
            self.namespace,
            container=container,
            _preload_content=False,
        )
        return bytes(response.data or b"")

    # ------------------------------------------------------------------ writes

    def create(self, manifest: Obj) -> Obj | None:
        """Create the object; None when one of that name exists already (409)."""
        create = {
            "Job": self.batch.create_namespaced_job,
            "Service": self.core.create_namespaced_service,
            "Secret": self.core.create_namespaced_secret,
            "ConfigMap": self.core.create_namespaced_config_map,
            "NetworkPolicy": self.networking.create_namespaced_network_policy,
        }[manifest["kind"]]
        try:
            return self._json(create, self.namespace, manifest)
        except KubernetesError as err:
            if err.status == 409:
                return None
            raise

    def resume_job(self, name: str) -> None:
        patch = [{"op": "replace", "path": "/spec/suspend", "value": False}]
        self._call(self.batch.patch_namespaced_job, name, self.namespace, patch)

    def delete_job(self, name: str, *, grace_s: int) -> bool:
        """Delete the Job, its pods first (each gets `grace_s` between SIGTERM and SIGKILL).
        False when it was already gone."""
        try:
            self._call(
                self.batch.delete_namespaced_job,
                name,
                self.namespace,
                propagation_policy="Foreground",
                grace_period_seconds=grace_s,
            )
        except KubernetesError as err:
            if err.status == 404:
                return False
            raise
        return True

    def delete_all(self, kind: str, label_selector: str) -> None:
        """Delete every object of `kind` (Job, Secret, ConfigMap) the selector matches."""
        if kind == "Job":
            self._call(
                self.batch.delete_collection_namespaced_job,
                self.namespace,
                label_selector=label_selector,
                propagation_policy="Background",
            )
            return
        delete = {
            "Secret": self.core.delete_collection_namespaced_secret,
            "ConfigMap": self.core.delete_collection_namespaced_config_map,
        }[kind]
        self._call(delete, self.namespace, label_selector=label_selector)


def _api_message(body: Any) -> str:
    """The `message` of a Status body, else the body itself (shortened)."""
    if not body:
        return ""
    try:
        parsed = json.loads(body)
    except (TypeError, ValueError):
        return str(body)[:300]
    return str(parsed.get("message") or "")[:300] if isinstance(parsed, dict) else ""
