"""Every failure is one line in kubectl's wording on stderr, exit code 1, and no traceback."""

from __future__ import annotations

from pathlib import Path

from tests.compat.kubectl import Kubectl
from tests.fixtures.etcd import free_port

from .conftest import Minikube8s


def one_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_not_found(mk: Minikube8s, kubectl: Kubectl, ns: str) -> None:
    res = mk.fail("get", "pods", "x", "-n", ns)
    assert one_line(res.err) == 'Error from server (NotFound): pods "x" not found'
    assert res.out == ""
    assert res.err == kubectl.fail("get", "pods", "x", "-n", ns).err
    res = mk.fail("delete", "services", "nginx-http", "-n", ns)
    assert one_line(res.err) == 'Error from server (NotFound): services "nginx-http" not found'
    res = mk.fail("describe", "rc", "nope", "-n", ns)
    assert one_line(res.err) == ('Error from server (NotFound): replicationcontrollers "nope" '
                                 'not found')
    for args in (("scale", "rc", "nope", "--replicas=2"), ("label", "pod", "nope", "a=b"),
                 ("logs", "nope"), ("stop", "rc", "nope"), ("expose", "rc", "nope", "--port=80")):
        res = mk.fail(*args, "-n", ns)
        assert one_line(res.err).startswith("Error from server (NotFound): "), res


def test_already_exists_names_the_file(mk: Minikube8s, ns: str, tmp_path: Path) -> None:
    f = tmp_path / "pod.yaml"
    f.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: twice\nspec:\n  containers:\n"
                 "  - name: c\n    image: nginx\n")
    mk("create", "-f", str(f), "-n", ns)
    res = mk.fail("create", "-f", str(f), "-n", ns)
    assert one_line(res.err) == (f'Error from server (AlreadyExists): error when creating '
                                 f'"{f}": pods "twice" already exists')


def test_invalid_object(mk: Minikube8s, ns: str) -> None:
    res = mk.fail("create", "-n", ns, "-f", "-", input=(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers:\n"
        "  - name: c\n"))
    line = one_line(res.err)
    assert line.startswith("Error from server (Invalid): error when creating \"STDIN\": "), line
    assert "spec.containers[0].image: Required value" in line


def test_unreachable_server_names_url_and_how_to_start(mk: Minikube8s) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for args in (("get", "pods"), ("create", "-f", "-"), ("version",), ("cluster-info",)):
        res = mk(*args, "-s", url, server=False, check=False,
                 input="apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n")
        assert res.code == 1, res
        line = one_line(res.err)
        assert f"The connection to the server {url} was refused" in line
        assert "minikube8s --role ai" in line and "make run" in line


def test_unreachable_default_server(mk: Minikube8s) -> None:
    # No -s, no $MINIKUBE8S_SERVER, no kubeconfig: the seed's http://127.0.0.1:8080, named.
    url = f"http://127.0.0.1:{free_port()}"
    res = mk("get", "pods", server=False, check=False, env={"MINIKUBE8S_SERVER": url})
    assert res.code == 1
    assert url in one_line(res.err)


def test_yaml_syntax_error_names_file_and_line(mk: Minikube8s, tmp_path: Path) -> None:
    f = tmp_path / "broken.yaml"
    # The seed's own nginx_service.yaml with the article's stray remark after targetPort.
    f.write_text("apiVersion: v1beta3\nkind: Service\nmetadata:\n  name: nginx\nspec:\n"
                 "  ports:\n  - port: 80\n    targetPort: 80 порт контейнера: 80\n")
    for verb in ("create", "apply", "delete", "replace"):
        res = mk.fail(verb, "-f", str(f))
        line = one_line(res.err)
        assert line.startswith(f"error: error parsing {f}: error converting YAML to JSON: "
                               f"yaml: line 8: "), line
    res = mk.fail("create", "-f", "-", input="a: [1, 2\n")
    assert "error parsing STDIN" in one_line(res.err)


def test_manifest_without_kind(mk: Minikube8s, tmp_path: Path) -> None:
    f = tmp_path / "nokind.yaml"
    f.write_text("metadata:\n  name: x\n")
    res = mk.fail("create", "-f", str(f))
    assert one_line(res.err) == (f'error: error validating "{f}": error validating data: '
                                 f'[apiVersion not set, kind not set]')


def test_missing_file(mk: Minikube8s, tmp_path: Path) -> None:
    res = mk.fail("create", "-f", str(tmp_path / "nope.yaml"))
    assert one_line(res.err) == f'error: the path "{tmp_path / "nope.yaml"}" does not exist'


def test_unknown_resource_type(mk: Minikube8s, kubectl: Kubectl) -> None:
    res = mk.fail("get", "foos")
    assert one_line(res.err) == 'error: the server doesn\'t have a resource type "foos"'
    assert res.err == kubectl.fail("get", "foos").err
    res = mk.fail("get", "pods,bars")
    assert one_line(res.err) == 'error: the server doesn\'t have a resource type "bars"'
    res = mk.fail("delete", "widget", "x")
    assert '"widget"' in one_line(res.err)


def test_unknown_kind_in_manifest(mk: Minikube8s, tmp_path: Path) -> None:
    f = tmp_path / "widget.yaml"
    f.write_text("apiVersion: v1\nkind: Widget\nmetadata:\n  name: w\n")
    res = mk.fail("create", "-f", str(f))
    assert one_line(res.err) == (f'error: resource mapping not found for name: "w" namespace: '
                                 f'"" from "{f}": no matches for kind "Widget" in version "v1"')
    f.write_text("apiVersion: v2\nkind: Pod\nmetadata:\n  name: w\n")
    assert 'no matches for kind "Pod" in version "v2"' in one_line(
        mk.fail("apply", "-f", str(f)).err)


def test_usage_errors_are_one_line(mk: Minikube8s) -> None:
    res = mk.fail("get", "pods", "--bogus")
    assert res.err.splitlines()[0] == "error: unknown flag: --bogus"
    assert "Traceback" not in res.err
    res = mk.fail("get", "pods", "-o", "table")
    assert one_line(res.err).startswith(
        'error: unable to match a printer suitable for the output format "table"')
    res = mk.fail("run-container", "nginx")
    assert one_line(res.err) == "error: --image is required"
    res = mk.fail("get")
    assert one_line(res.err).startswith("error: You must specify the type of resource to get.")
    res = mk.fail("scale", "rc", "x")
    assert "--replicas=COUNT" in one_line(res.err)


def test_exec_without_kubelet_prints_server_error(mk: Minikube8s, ns: str) -> None:
    mk("run", "sleepy", "--image=busybox", "-n", ns)
    res = mk.fail("exec", "sleepy", "-n", ns, "--", "ls", "/")
    assert one_line(res.err) == ("Error from server (BadRequest): pod sleepy does not have a "
                                 "host assigned")
    res = mk.fail("logs", "sleepy", "-n", ns)
    assert one_line(res.err) == ("Error from server (BadRequest): pod sleepy does not have a "
                                 "host assigned")


def test_bad_kubeconfig_is_named(mk: Minikube8s, tmp_path: Path) -> None:
    f = tmp_path / "config"
    f.write_text("clusters: [\n")
    res = mk("get", "pods", server=False, check=False, env={"KUBECONFIG": str(f)})
    assert res.code == 1
    assert str(f) in one_line(res.err)
