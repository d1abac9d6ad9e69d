"""The bundled CLI, run as a real subprocess (``python -m minikube8s VERB ...``) against a real
``minikube8s --role a`` process (the ``apiserver`` fixture, one per test module).

``mk(*args)`` runs one command with ``-s URL`` appended and returns a Result (code, out, err);
its environment holds only PATH, a private HOME, LANG and, unless a test sets it, no
MINIKUBE8S_SERVER or KUBECONFIG, so the machine's own configuration never leaks in. ``ns``
gives each test a namespace of its own. ``kubectl`` is the real kubectl 1.33 on the same
server (tests/compat/kubectl.py) for side-by-side comparisons.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.compat.kubectl import Kubectl, binary
from tests.fixtures.apiserver import ApiServerProcess, apiserver  # noqa: F401 - fixture

REPO = Path(__file__).parents[2]
EXAMPLES = REPO / "examples"
KUBECTL_VERSION = "1.33"

_ns_counter = itertools.count(1)


@dataclass
class Result:
    args: list[str]
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return (f"minikube8s {' '.join(self.args)} -> {self.code}\n"
                f"--- stdout\n{self.out}--- stderr\n{self.err}")


class Minikube8s:
    """``mk(*args)``: one CLI invocation; raises AssertionError on a non-zero exit unless
    ``check=False`` (``fail`` expects exit 1)."""

    def __init__(self, url: str, home: Path) -> None:
        self.url = url
        self.home = home
        home.mkdir(parents=True, exist_ok=True)

    def env(self, **extra: str) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home),
                "LANG": "C.UTF-8", "PYTHONPATH": str(REPO), **extra}

    def __call__(self, *args: str, input: str | None = None, check: bool = True,
                 server: bool = True, env: dict[str, str] | None = None,
                 timeout: float = 60) -> Result:
        argv = [sys.executable, "-m", "minikube8s", *args]
        if server:
            # before a `--` (exec, run): what follows it is the container's command
            at = argv.index("--") if "--" in argv else len(argv)
            argv[at:at] = ["-s", self.url]
        proc = subprocess.run(argv, input=input, capture_output=True, text=True,
                              env=self.env(**(env or {})), timeout=timeout, check=False,
                              cwd=str(REPO))
        res = Result(list(args), proc.returncode, proc.stdout, proc.stderr)
        if check and res.code != 0:
            raise AssertionError(str(res))
        assert "Traceback" not in res.err, str(res)
        return res

    def fail(self, *args: str, **kw: object) -> Result:
        res = self(*args, check=False, **kw)  # type: ignore[arg-type]
        assert res.code == 1, f"expected exit 1\n{res}"
        assert "Traceback" not in res.err, str(res)
        return res


@pytest.fixture(scope="module")
def mk(apiserver: ApiServerProcess,  # noqa: F811
       tmp_path_factory: pytest.TempPathFactory) -> Minikube8s:
    return Minikube8s(apiserver.url, tmp_path_factory.mktemp("mkhome"))


@pytest.fixture(scope="module")
def kubectl(apiserver: ApiServerProcess,  # noqa: F811
            tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    if not binary(KUBECTL_VERSION).exists():
        pytest.skip(f"kubectl {KUBECTL_VERSION} is not installed")
    return Kubectl(KUBECTL_VERSION, apiserver.url, tmp_path_factory.mktemp("kubehome"))


@pytest.fixture
def ns(mk: Minikube8s) -> Iterator[str]:
    name = f"cli{next(_ns_counter)}"
    mk("create", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata:\n"
       f"  name: {name}\n")
    yield name
