"""The bundled CLI over HTTPS: kubeconfig trust and credentials (certificate-authority[-data],
insecure-skip-tls-verify, token, tokenFile), kubectl's global flags, and kubectl's one-line
errors. The CLI runs as a real subprocess against tlsserver.TLSServer on loopback; config.py's
precedence is also checked in-process."""

from __future__ import annotations

import asyncio
import base64
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from minikube8s.cli import config
from minikube8s.cli.kubeconfig import KubeconfigError

from .tlsserver import TLSServer, make_pki


def kubeconfig(path: Path, server: str, *, cluster: dict[str, Any],
               user: dict[str, Any]) -> Path:
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
           "clusters": [{"name": "c", "cluster": {"server": server, **cluster}}],
           "users": [{"name": "u", "user": user}],
           "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}
    path.write_text(yaml.safe_dump(doc))
    return path


async def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    base = {"PATH": os.environ.get("PATH", ""), "HOME": "/nonexistent", "LANG": "C.UTF-8"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "minikube8s", *args, env={**base, **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_kubeconfig_ca_data_and_token(tmp_path: Path) -> None:
    pki = make_pki()
    async with TLSServer(pki) as srv:
        kc = kubeconfig(tmp_path / "kc", srv.url,
                        cluster={"certificate-authority-data": b64(pki.ca_pem)},
                        user={"token": srv.admin_token})
        code, _, err = await cli("get", "nodes", "--kubeconfig", str(kc))
        assert (code, err.strip()) == (0, "No resources found"), err
        code, _, err = await cli("get", "nodes", env={"KUBECONFIG": str(kc)})
        assert code == 0, err
        # a wrong token on the command line beats the kubeconfig's
        code, _, err = await cli("get", "nodes", "--kubeconfig", str(kc), "--token", "nope")
        assert (code, err) == (1, "error: You must be logged in to the server "
                                  "(Unauthorized)\n")
        code, _, err = await cli("--token", "nope", "get", "nodes", "--kubeconfig", str(kc))
        assert (code, err) == (1, "error: You must be logged in to the server "
                                  "(Unauthorized)\n")
        code, _, err = await cli("get", "pods", "--kubeconfig", str(kc))
        assert code == 1
        assert err.startswith('Error from server (Forbidden): pods is forbidden: User "'), err


async def test_relative_ca_file_and_token_file(tmp_path: Path) -> None:
    pki = make_pki()
    async with TLSServer(pki) as srv:
        (tmp_path / "ca.pem").write_bytes(pki.ca_pem)
        (tmp_path / "tok").write_text(srv.admin_token + "\n")
        kc = kubeconfig(tmp_path / "kc", srv.url, cluster={"certificate-authority": "ca.pem"},
                        user={"tokenFile": "tok"})
        code, _, err = await cli("get", "nodes", "--kubeconfig", str(kc))
        assert code == 0, err


async def test_wrong_ca_and_the_flags_that_fix_it(tmp_path: Path) -> None:
    pki, other = make_pki(), make_pki()
    async with TLSServer(pki) as srv:
        kc = kubeconfig(tmp_path / "kc", srv.url,
                        cluster={"certificate-authority-data": b64(other.ca_pem)},
                        user={"token": srv.admin_token})
        code, _, err = await cli("get", "nodes", "--kubeconfig", str(kc))
        assert (code, err) == (1, "Unable to connect to the server: tls: failed to verify "
                                  "certificate: x509: certificate signed by unknown authority\n")
        code, _, err = await cli("get", "nodes", "--kubeconfig", str(kc),
                                 "--insecure-skip-tls-verify")
        assert code == 0, err
        (tmp_path / "right.pem").write_bytes(pki.ca_pem)
        code, _, err = await cli("get", "nodes", "--kubeconfig", str(kc),
                                 "--certificate-authority", str(tmp_path / "right.pem"))
        assert code == 0, err
        # -s replaces the address only: the context's token and CA still apply
        code, _, err = await cli("get", "nodes", "-s", srv.url, "--token", srv.admin_token,
                                 "--certificate-authority", str(tmp_path / "right.pem"))
        assert code == 0, err
        code, _, err = await cli("get", "nodes", "-s", srv.url, "--token", srv.admin_token)
        assert "certificate signed by unknown authority" in err


def test_resolve_precedence(tmp_path: Path) -> None:
    kc = kubeconfig(tmp_path / "kc", "https://h:6443",
                    cluster={"certificate-authority-data": b64(b"PEM"),
                             "insecure-skip-tls-verify": False},
                    user={"token": "kt", "tokenFile": "ignored"})
    t = config.resolve(kubeconfig_path=str(kc), environ={})
    assert (t.server, t.token, t.ca_data, t.ca_file, t.insecure) == (
        "https://h:6443", "kt", "PEM", "", False)
    t = config.resolve(kubeconfig_path=str(kc), environ={}, token="ft",
                       insecure_skip_tls_verify=True)
    assert (t.token, t.ca_data, t.insecure) == ("ft", "", True)
    t = config.resolve(kubeconfig_path=str(kc), environ={}, certificate_authority="/x.pem")
    assert (t.ca_file, t.ca_data) == ("/x.pem", "")
    with pytest.raises(KubeconfigError, match="insecure flag is not allowed"):
        config.resolve(kubeconfig_path=str(kc), environ={}, certificate_authority="/x.pem",
                       insecure_skip_tls_verify=True)
    bad = kubeconfig(tmp_path / "bad", "https://h", cluster={"certificate-authority-data": "%%"},
                     user={"tokenFile": str(tmp_path / "missing")})
    with pytest.raises(KubeconfigError):
        config.resolve(kubeconfig_path=str(bad), environ={})
