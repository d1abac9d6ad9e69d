"""``minikube8s create configmap|secret generic``, and get/describe/delete of them, against
real kubectl 1.33 on the same server: the same objects from the same flags, the same tables,
YAML and describe text, the same client-side errors."""

from __future__ import annotations

import json
from pathlib import Path

from tests.compat.kubectl import Kubectl

from .conftest import Minikube8s
from .test_get_vs_kubectl import _describe_parts, assert_same


def test_create_configmap_like_kubectl(mk: Minikube8s, kubectl: Kubectl, ns: str,
                                       tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "a.txt").write_text("alpha\n")
    (tmp_path / "dir" / "b.bin").write_bytes(b"\xff\xfe")
    (tmp_path / "app.env").write_text("# comment\nMODE=fast\n\n  LEVEL=3\n")
    flags = ["--from-literal=greeting='hello world'", f"--from-file={tmp_path / 'dir'}",
             f"--from-file=renamed={tmp_path / 'dir' / 'a.txt'}"]
    assert mk("create", "configmap", "mine", "-n", ns, *flags).out == "configmap/mine created\n"
    kubectl("create", "configmap", "theirs", "-n", ns, *flags)
    env = f"--from-env-file={tmp_path / 'app.env'}"
    mk("create", "configmap", "mine-env", "-n", ns, env)
    kubectl("create", "configmap", "theirs-env", "-n", ns, env)
    for a, b in (("mine", "theirs"), ("mine-env", "theirs-env")):
        mine = kubectl.json("get", "cm", a, "-n", ns)
        theirs = kubectl.json("get", "cm", b, "-n", ns)
        for key in ("data", "binaryData"):
            assert mine.get(key) == theirs.get(key), (a, key)
    assert kubectl.json("get", "cm", "mine", "-n", ns)["data"]["greeting"] == "'hello world'"
    assert_same(mk("get", "cm", "-n", ns).out, kubectl("get", "cm", "-n", ns).out)
    # One data key, so Go's random map order cannot change kubectl's describe.
    mk("create", "cm", "one", "-n", ns, "--from-literal=k=v1",
       f"--from-file={tmp_path / 'dir' / 'b.bin'}")
    assert mk("describe", "cm", "one", "-n", ns).out == kubectl("describe", "cm", "one",
                                                               "-n", ns).out
    assert mk("get", "cm", "one", "-n", ns, "-o", "yaml").out == kubectl(
        "get", "cm", "one", "-n", ns, "-o", "yaml").out


def test_create_secret_like_kubectl(mk: Minikube8s, kubectl: Kubectl, ns: str,
                                    tmp_path: Path) -> None:
    key = tmp_path / "ssh-privatekey"
    key.write_bytes(b"\x00KEY\n")
    flags = ["--from-literal=user=admin", f"--from-file={key}"]
    assert mk("create", "secret", "generic", "mine", "-n", ns, *flags).out \
        == "secret/mine created\n"
    kubectl("create", "secret", "generic", "theirs", "-n", ns, *flags)
    mine = kubectl.json("get", "secret", "mine", "-n", ns)
    theirs = kubectl.json("get", "secret", "theirs", "-n", ns)
    assert (mine["data"], mine["type"]) == (theirs["data"], theirs["type"])
    mk("create", "secret", "generic", "typed", "-n", ns, "--type=kubernetes.io/ssh-auth",
       f"--from-file={key}")
    assert_same(mk("get", "secret", "-n", ns).out, kubectl("get", "secret", "-n", ns).out)
    assert mk("describe", "secret", "typed", "-n", ns).out == kubectl(
        "describe", "secret", "typed", "-n", ns).out
    assert mk("get", "secret", "typed", "-n", ns, "-o", "yaml").out == kubectl(
        "get", "secret", "typed", "-n", ns, "-o", "yaml").out
    assert mk("delete", "secret", "mine", "theirs", "-n", ns).out == (
        'secret "mine" deleted\nsecret "theirs" deleted\n')


def test_client_side_errors_like_kubectl(mk: Minikube8s, kubectl: Kubectl, ns: str,
                                         tmp_path: Path) -> None:
    for args in (("configmap", "x", "--from-literal=novalue"),
                 ("configmap", "x", "--from-literal=a b=1"),
                 ("configmap", "x", "--from-literal=k=1", "--from-literal=k=2"),
                 ("configmap", "x", f"--from-file={tmp_path / 'missing'}"),
                 ("configmap", "x", f"--from-file=k={tmp_path}"),
                 ("configmap", "x", "--from-literal=a=1", f"--from-env-file={tmp_path}"),
                 ("secret", "generic", "x", "--from-literal=a b=1"),
                 ("secret", "generic", "x", "--from-literal=k=1", "--from-literal=k=2")):
        mine = mk.fail("create", *args, "-n", ns).err
        theirs = kubectl.fail("create", *args, "-n", ns).err
        assert mine == theirs, args
    err = mk.fail("create", "configmap", "-n", ns).err
    assert err == "error: exactly one NAME is required, got 0\n"
    mk("create", "configmap", "dup", "-n", ns, "--from-literal=a=1")
    err = mk.fail("create", "configmap", "dup", "-n", ns, "--from-literal=a=1").err
    assert err == 'Error from server (AlreadyExists): configmaps "dup" already exists\n'


def test_describe_pod_with_references_like_kubectl(mk: Minikube8s, kubectl: Kubectl,
                                                   ns: str) -> None:
    """Env from secrets and configmaps, envFrom, their volumes and mount flags, as
    kubectl's pod describer prints them."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "refs"}, "spec": {
        "containers": [{"name": "c", "image": "busybox",
                        "env": [{"name": "PLAIN", "value": "x"},
                                {"name": "PW", "valueFrom": {"secretKeyRef": {
                                    "name": "db", "key": "password"}}},
                                {"name": "MODE", "valueFrom": {"configMapKeyRef": {
                                    "name": "web", "key": "mode", "optional": True}}}],
                        "envFrom": [{"configMapRef": {"name": "web"}},
                                    {"prefix": "DB_", "secretRef": {"name": "db"}}],
                        "volumeMounts": [{"name": "s", "mountPath": "/etc/s",
                                          "readOnly": True},
                                         {"name": "c", "mountPath": "/etc/c", "subPath": "x"},
                                         {"name": "e", "mountPath": "/tmp/e"}]}],
        "volumes": [{"name": "s", "secret": {"secretName": "db"}},
                    {"name": "c", "configMap": {"name": "web", "optional": True}},
                    {"name": "e", "emptyDir": {}}]}}
    mk("create", "-n", ns, "-f", "-", input=json.dumps(pod))
    mine = mk("describe", "pod", "refs", "-n", ns).out
    theirs = kubectl("describe", "pod", "refs", "-n", ns).out
    if mine != theirs:
        assert _describe_parts(mine) == _describe_parts(theirs), \
            f"minikube8s:\n{mine}\nkubectl:\n{theirs}"
