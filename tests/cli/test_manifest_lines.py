"""A 422 on an object from a YAML file names the file's line of each refused field
(cli/locate.py): the seed's nginx_service.yaml with its original formatting error (the
`targetPort: 80 порт контейнера ...` line whose remark lost its `#`), and any field path on
create, apply and replace. kubectl 1.33 prints the same server causes without a line, which
the last test records side by side.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from minikube8s.cli import locate
from tests.cli.conftest import REPO, Minikube8s
from tests.compat.kubectl import Kubectl

SEED = REPO / "tests" / "security" / "data" / "nginx_service.yaml"
VALUE = '"80 порт контейнера на который будет производиться трансляция запросов"'
SEED_LINE = (f"error: {SEED}:16: spec.ports[0].targetPort: Invalid value: {VALUE}: must be no "
             "more than 15 characters; must contain only alpha-numeric characters (a-z, 0-9), "
             "and hyphens (-); must contain at least one letter (a-z)")


def test_seed_line_is_the_broken_one() -> None:
    lines = SEED.read_text(encoding="utf-8").splitlines()
    assert lines[15].strip() == ("targetPort: 80 порт контейнера на который будет "
                                 "производиться трансляция запросов")
    seed = REPO.parent / "shared" / "seed" / "kubernetes-basics.txt"
    if seed.exists():  # the article itself, where the `#` is missing
        assert lines[15].strip() in seed.read_text(encoding="utf-8").splitlines()


def test_seed_service_names_file_line_and_field(mk: Minikube8s, ns: str) -> None:
    for verb in ("create", "apply"):
        res = mk.fail(verb, "-f", str(SEED), "-n", ns)
        assert res.err.splitlines() == [SEED_LINE], res
    # nothing was created
    assert "nginx" not in mk("get", "services", "-n", ns, "-o", "name").out


def test_any_field_in_any_document(mk: Minikube8s, ns: str, tmp_path: Path) -> None:
    f = tmp_path / "several.yaml"
    f.write_text(
        "apiVersion: v1\n"                    # 1
        "kind: Pod\n"                         # 2
        "metadata:\n"                         # 3
        "  name: fine\n"                      # 4
        "spec:\n"                             # 5
        "  containers:\n"                     # 6
        "  - name: c\n"                       # 7
        "    image: nginx\n"                  # 8
        "---\n"                               # 9
        "apiVersion: v1\n"                    # 10
        "kind: List\n"                        # 11
        "items:\n"                            # 12
        "- apiVersion: v1\n"                  # 13
        "  kind: Pod\n"                       # 14
        "  metadata:\n"                       # 15
        "    name: broken\n"                  # 16
        "    labels:\n"                       # 17
        "      'example.com/ok': fine\n"      # 18
        f"      tier: {'x' * 64}\n"           # 19
        "  spec:\n"                           # 20
        "    restartPolicy: Sometimes\n"      # 21
        "    containers:\n"                   # 22
        "    - name: c\n"                     # 23
        "      ports:\n"                      # 24
        "      - containerPort: 99999\n")     # 25
    res = mk.fail("create", "-f", str(f), "-n", ns)
    assert res.out == "pod/fine created\n", res
    got = res.err.splitlines()
    assert f'error: {f}:17: metadata.labels: Invalid value: "{"x" * 64}": must be no more ' \
        "than 63 characters" in got, res
    assert f"error: {f}:23: spec.containers[0].image: Required value" in got, res
    assert f"error: {f}:25: spec.containers[0].ports[0].containerPort: Invalid value: 99999: " \
        "must be between 1 and 65535, inclusive" in got, res
    assert any(g.startswith(f'error: {f}:21: spec.restartPolicy: Unsupported value: '
                            '"Sometimes"') for g in got), res
    assert all(g.startswith(f"error: {f}:") for g in got), res


def test_replace_and_apply_of_an_existing_object(mk: Minikube8s, ns: str,
                                                 tmp_path: Path) -> None:
    good = ("apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: web\nspec:\n"
            "  replicas: 1\n  selector:\n    app: web\n  template:\n    metadata:\n"
            "      labels:\n        app: web\n    spec:\n      containers:\n"
            "      - name: c\n        image: nginx\n")
    f = tmp_path / "rc.yaml"
    f.write_text(good)
    mk("create", "-f", str(f), "-n", ns)
    f.write_text(good.replace("  replicas: 1\n", "  replicas: -2\n"))
    for verb in ("replace", "apply"):
        res = mk.fail(verb, "-f", str(f), "-n", ns)
        assert res.err.splitlines() == [
            f"error: {f}:6: spec.replicas: Invalid value: -2: must be greater than or equal "
            "to 0"], res


def test_stdin_and_json_keep_kubectls_line(mk: Minikube8s, ns: str, tmp_path: Path) -> None:
    res = mk.fail("create", "-f", "-", "-n", ns, input=SEED.read_text(encoding="utf-8"))
    assert res.err.startswith('Error from server (Invalid): error when creating "STDIN": '
                              'Service "nginx" is invalid: '), res
    j = tmp_path / "svc.json"
    j.write_text('{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "j"}, '
                 '"spec": {"ports": [{"port": 0}]}}')
    res = mk.fail("create", "-f", str(j), "-n", ns)
    assert res.err.startswith(f'Error from server (Invalid): error when creating "{j}": '), res


def test_kubectl_on_the_seed_service(kubectl: Kubectl, ns: str) -> None:
    """What kubectl 1.33 prints for the same file: the server's causes, no line."""
    res = kubectl("create", "-f", str(SEED), "-n", ns, check=False)
    assert res.code == 1
    assert res.err.splitlines()[0] == 'The Service "nginx" is invalid: '
    assert f"* spec.ports[0].targetPort: Invalid value: {VALUE}: must be no more than 15 " \
        "characters" in res.err


def test_line_of_paths() -> None:
    node = yaml.compose("metadata:\n  annotations:\n    example.com/a.b: x\nspec:\n"
                        "  ports:\n  - port: 1\n  - name: b\n    port: 2\n")
    assert node is not None
    assert locate.segments("metadata.annotations[example.com/a.b]") == [
        "metadata", "annotations", "example.com/a.b"]
    assert locate.line_of(node, "metadata.annotations[example.com/a.b]") == 3
    assert locate.line_of(node, "spec.ports[1].port") == 8
    assert locate.line_of(node, "spec.ports[1]") == 7
    assert locate.line_of(node, "spec.ports[5].port") == 5  # the deepest part present
    assert locate.line_of(node, "spec.clusterIP") == 4
    assert locate.line_of(node, "status") == 1
