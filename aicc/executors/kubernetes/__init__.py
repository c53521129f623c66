"""The Kubernetes executor: job attempts as Jobs (Indexed Jobs with a headless Service for gangs)
in one namespace, driven through the official `kubernetes` client (docs/kubernetes.md).

Importing this package does not import the client; the first call that talks to the cluster does
(`pip install 'aicc[kubernetes]'`).
"""

from __future__ import annotations

from aicc.config import ConfigError, KubernetesSettings
from aicc.core import accelerator_names
from aicc.executors.base import Workdirs
from aicc.executors.kubernetes.client import KubernetesError
from aicc.executors.kubernetes.executor import KubernetesExecutor
from aicc.executors.kubernetes.manifests import DataPods, PodOptions
from aicc.executors.kubernetes.nodes import NodeOptions
from aicc.executors.kubernetes.resources import ManifestError

__all__ = ["KubernetesError", "KubernetesExecutor", "ManifestError", "build"]


def build(settings: KubernetesSettings, *, blobs: Workdirs, grace_s: float) -> KubernetesExecutor:
    """The executor `settings` describe (`Settings.kubernetes`); `grace_s` is
    `limits.grace_s`. Checks the settings (ConfigError) but does not connect: discovery does."""
    for resource, model in settings.default_models.items():
        try:
            accelerator_names.lookup(model)
        except KeyError as err:
            raise ConfigError(f"kubernetes.default_models.{resource}: {err.args[0]}") from None
    if (settings.api_url is None) != (settings.data_image is None):
        raise ConfigError(
            "kubernetes.api_url and kubernetes.data_image go together: pods fetch data sets "
            "from the API, with AICC's own code"
        )
    data = (
        DataPods(
            settings.api_url, settings.data_image, settings.data_cache_path, settings.data_cache_gib
        )
        if settings.api_url and settings.data_image
        else None
    )
    options = PodOptions(
        namespace=settings.namespace,
        image_pull_secrets=tuple(settings.image_pull_secrets),
        service_account=settings.service_account,
        pin_nodes=settings.placement == "aicc",
        priority_classes={str(k): v for k, v in settings.priority_classes.items()},
        node_selector=dict(settings.node_selector),
        tolerations=tuple(settings.tolerations),
        hami=settings.hami,
        ttl_after_finished_s=settings.ttl_after_finished_s,
        grace_s=grace_s,
        volume_claim=settings.volume_claim,
        init_image=settings.init_image,
        data=data,
    )
    node_options = NodeOptions(
        cluster=settings.cluster,
        pool_label=settings.pool_label,
        rack_label=settings.rack_label,
        default_models=dict(settings.default_models),
        simulated=settings.simulated_gpus,
        hami=settings.hami,
    )
    selector = ",".join(f"{k}={v}" for k, v in sorted(settings.node_selector.items()))
    return KubernetesExecutor(
        options=options,
        node_options=node_options,
        blobs=blobs,
        image=settings.image,
        kubeconfig=settings.kubeconfig,
        context=settings.context,
        label_selector=selector,
        volume_path=settings.volume_path,
        start_timeout_s=settings.start_timeout_s,
        request_timeout_s=settings.request_timeout_s,
    )
