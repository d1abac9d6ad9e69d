"""Run the real kubectl binaries against a test API server, isolated from the machine's own
kubeconfig and discovery cache.

Every invocation gets ``-s URL``, ``--cache-dir`` inside a per-suite HOME, and an environment
holding only PATH, HOME and KUBECONFIG (a kubeconfig naming the same server, so kubectl prints
no "Config not found" noise on stderr). kubectl caches discovery for ten minutes, so a fresh
cache directory per server is what makes discovery changes visible.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KUBECTL_DIR = Path("/usr/lib/google-cloud-sdk/bin")
VERSIONS = ("1.27", "1.30", "1.33")


def binary(version: str) -> Path:
    return KUBECTL_DIR / f"kubectl.{version}"


KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: minikube8s
  cluster:
    server: {url}
contexts:
- name: minikube8s
  context:
    cluster: minikube8s
    user: minikube8s
    namespace: default
users:
- name: minikube8s
  user: {{}}
current-context: minikube8s
"""


@dataclass
class Result:
    args: list[str]
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return (f"kubectl {' '.join(self.args)} -> {self.code}\n"
                f"--- stdout\n{self.out}--- stderr\n{self.err}")


class KubectlError(AssertionError):
    pass


class Kubectl:
    """``kubectl(*args)`` runs one command and returns a Result (raising on a non-zero exit
    unless ``check=False``)."""

    def __init__(self, version: str, url: str, home: Path) -> None:
        self.version = version
        self.url = url
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        (home / "config").write_text(KUBECONFIG.format(url=url))
        self.minor = int(version.split(".")[1])

    def env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home),
                "KUBECONFIG": str(self.home / "config"), "LANG": "C.UTF-8"}

    def argv(self, *args: str) -> list[str]:
        return [str(binary(self.version)), "-s", self.url,
                "--cache-dir", str(self.home / "cache"), *args]

    def __call__(self, *args: str, input: str | None = None, check: bool = True,
                 timeout: float = 60) -> Result:
        proc = subprocess.run(self.argv(*args), input=input, capture_output=True, text=True,
                              env=self.env(), timeout=timeout, check=False)
        res = Result(list(args), proc.returncode, proc.stdout, proc.stderr)
        if check and res.code != 0:
            raise KubectlError(str(res))
        return res

    def fail(self, *args: str, input: str | None = None) -> Result:
        """Run a command that must fail (exit 1), returning its output."""
        res = self(*args, input=input, check=False)
        if res.code != 1:
            raise KubectlError(f"expected exit 1\n{res}")
        return res

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json").out)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env())
