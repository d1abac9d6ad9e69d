"""The Docker runtime of the kubelet (issue 5): pods as containers on a real dockerd.

runtime.py is the runtime Protocol (../runtime.py) over aiodocker; containers.py translates
pod specs to Docker create bodies and inspect output back (pure); volumes.py makes emptyDir,
hostPath, secret and configMap binds; network.py the pod bridge network on spec.podCIDR.
Logs and exec (streams.py) belong to the kubelet server. ``make_runtime`` (../__init__.py)
builds it for ``--runtime docker``.
"""

from .runtime import PAUSE_IMAGE, DockerRuntime

__all__ = ["PAUSE_IMAGE", "DockerRuntime"]
