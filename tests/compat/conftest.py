"""Real kubectl (1.27, 1.30, 1.33) against a real ``minikube8s --role a`` process.

One API server per test module (the ``apiserver`` fixture); the ``kubectl`` fixture is
parametrized over the kubectl versions with its own HOME and discovery cache per module and
version, and ``ns`` gives each test a namespace of its own so versions do not see each other's
objects.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.apiserver import ApiServerProcess, apiserver  # noqa: F401 - fixture

from .kubectl import VERSIONS, Kubectl, binary

MANIFESTS = Path(__file__).parent / "manifests"
EXAMPLES = Path(__file__).parents[2] / "examples"

_ns_counter = itertools.count(1)

pytestmark = pytest.mark.kubectl


@pytest.fixture(scope="module", params=VERSIONS, ids=[f"kubectl{v}" for v in VERSIONS])
def kubectl(request: pytest.FixtureRequest, apiserver: ApiServerProcess,  # noqa: F811
            tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    version = str(request.param)
    if not binary(version).exists():
        pytest.skip(f"kubectl {version} is not installed")
    return Kubectl(version, apiserver.url,
                   tmp_path_factory.mktemp(f"kube{version.replace('.', '')}"))


@pytest.fixture
def ns(kubectl: Kubectl) -> Iterator[str]:
    name = f"t{next(_ns_counter)}-k{kubectl.version.replace('.', '')}"
    # Through a manifest (JSON on the wire): `kubectl create namespace` is a typed-client
    # generator, which 1.32+ sends as protobuf (see test_kubectl_generators.py).
    kubectl("create", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata:\n"
            f"  name: {name}\n")
    yield name

