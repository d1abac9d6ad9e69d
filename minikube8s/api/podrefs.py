"""Which secrets and configmaps a pod uses, as Kubernetes' VisitPodSecretNames and
VisitPodConfigmapNames see them.

Two readers: the Node authorizer (auth/authz.py: a node may read a secret or configmap only
while a pod bound to it references it) and the kubelet's cache of them
(roles/kubelet/configcache.py: what to read afresh for a new pod or after a failure). Pure
function over the pod dict; names only, the namespace is the pod's.
"""

from __future__ import annotations

from typing import Any

__all__ = ["pod_references"]


def _name_of(ref: Any, key: str = "name") -> str:
    value = ref.get(key) if isinstance(ref, dict) else None
    return value if isinstance(value, str) else ""


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


# Volume sources naming a secret other than ``secret`` itself (podutil.VisitPodSecretNames).
_VOLUME_SECRET_REFS = (("azureFile", "secretName"), ("cephfs", "secretRef"),
                       ("cinder", "secretRef"), ("flexVolume", "secretRef"),
                       ("iscsi", "secretRef"), ("rbd", "secretRef"), ("scaleIO", "secretRef"),
                       ("storageos", "secretRef"), ("csi", "nodePublishSecretRef"))


def pod_references(pod: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(secret names, configmap names) a pod uses, as Kubernetes' VisitPodSecretNames and
    VisitPodConfigmapNames see them: imagePullSecrets, volumes (secret, configMap, projected
    sources, the secretRefs of network volumes), and every container's (init, ephemeral)
    env[].valueFrom and envFrom[]."""
    secrets: set[str] = set()
    configmaps: set[str] = set()
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return secrets, configmaps
    secrets.update(_name_of(r) for r in _dicts(spec.get("imagePullSecrets")))
    for vol in _dicts(spec.get("volumes")):
        secrets.add(_name_of(vol.get("secret"), "secretName"))
        configmaps.add(_name_of(vol.get("configMap")))
        projected = vol.get("projected")
        for src in _dicts(projected.get("sources") if isinstance(projected, dict) else None):
            secrets.add(_name_of(src.get("secret")))
            configmaps.add(_name_of(src.get("configMap")))
        for source, key in _VOLUME_SECRET_REFS:
            ref = vol.get(source)
            if isinstance(ref, dict):
                secrets.add(_name_of(ref, key) if key == "secretName"
                            else _name_of(ref.get(key)))
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for c in _dicts(spec.get(field)):
            for env in _dicts(c.get("env")):
                value_from = env.get("valueFrom")
                if isinstance(value_from, dict):
                    secrets.add(_name_of(value_from.get("secretKeyRef")))
                    configmaps.add(_name_of(value_from.get("configMapKeyRef")))
            for env_from in _dicts(c.get("envFrom")):
                secrets.add(_name_of(env_from.get("secretRef")))
                configmaps.add(_name_of(env_from.get("configMapRef")))
    secrets.discard("")
    configmaps.discard("")
    return secrets, configmaps
