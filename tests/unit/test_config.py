# ruff: noqa: RUF001, E501  (the seed's file verbatim: Cyrillic, long lines)
"""--config: the seed's config-default.sh (its exact text, Russian comments and all) and YAML,
read without running a shell, and a node placed in ``nodes``/``roles``; then the precedence
flag > environment > file > default through the real command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from minikube8s import __main__ as cli
from minikube8s.config import DEFAULT_ADMISSION, NodeConfig, Role
from minikube8s.config_file import ConfigError, load, parse_shell, place

SEED = Path(__file__).resolve().parents[2] / "examples" / "config-default.sh"

# The seed article's file verbatim (its nodes line repeats 192.168.0.10 three times, a slip the
# article's text corrects: Node1..3 are .10, .11, .12; examples/config-default.sh has those).
SEED_TEXT = """\
## Contains configuration values for the Ubuntu cluster
# В данном пункте необходимо указать все ноды будущего кластера, MASTER-нода указывается первой
# Ноды указываются в формате разделитель - пробел
# В качестве пользователя указывается тот пользователь для которого по нодам разложены ssh-ключи
export nodes="core@192.168.0.10 core@192.168.0.10 core@192.168.0.10"
# Определяем роли нод : a(master) или i(minion) или ai(master и minion), указывается в том же порядке, что и ноды в списке выше.
export roles=("ai" "i" "i")
# Определяем количество миньонов
export NUM_MINIONS=${NUM_MINIONS:-3}
# Определяем IP-подсеть из которой, в последствии будут выделяться адреса для сервисов.
# Выделять необходимо серую подсеть, которая не будет пересекаться с имеющимися, т.к. эти адреса будут существовать только в пределах каждой ноды.
#Перенаправление на IP-адреса сервисов производится локальным iptables каждой ноды.
export PORTAL_NET=192.168.3.0/24
#Определяем подсеть из которой будут выделяться подсети для создания внутренней сети flannel.
#flannel по умолчанию выделяет подсеть с маской 24 на каждую ноду, из этих подсетей будут выделяться адреса для Docker-контейнеров.
#Подсеть не должна пересекаться с PORTAL_NET
export FLANNEL_NET=172.16.0.0/16
# Admission Controllers определяет политику доступа к объектам кластера.
ADMISSION_CONTROL=NamespaceLifecycle,NamespaceAutoProvision,LimitRanger,ResourceQuota
# Дополнительные параметры запуска Docker. Могут быть полезны для дополнительных настроек
# например установка --insecure-registry для локальных репозиториев.
DOCKER_OPTS=""
"""


def test_seed_text_parses_exactly() -> None:
    v = parse_shell(SEED_TEXT, env={})
    assert v == {
        "nodes": "core@192.168.0.10 core@192.168.0.10 core@192.168.0.10",
        "roles": ["ai", "i", "i"],
        "NUM_MINIONS": "3",
        "PORTAL_NET": "192.168.3.0/24",
        "FLANNEL_NET": "172.16.0.0/16",
        "ADMISSION_CONTROL": DEFAULT_ADMISSION,
        "DOCKER_OPTS": "",
    }


def test_default_expansion_sees_the_environment() -> None:
    assert parse_shell(SEED_TEXT, env={"NUM_MINIONS": "5"})["NUM_MINIONS"] == "5"


def test_example_file_is_the_seed_with_three_addresses(tmp_path: Path) -> None:
    example = SEED.read_text(encoding="utf-8")
    assert example == SEED_TEXT.replace(
        "core@192.168.0.10 core@192.168.0.10 core@192.168.0.10",
        "core@192.168.0.10 core@192.168.0.11 core@192.168.0.12")
    values = load(SEED, env={})
    assert values["nodes"] == ["core@192.168.0.10", "core@192.168.0.11", "core@192.168.0.12"]
    assert values["roles"] == ["ai", "i", "i"]
    assert values["portal_net"] == "192.168.3.0/24"
    assert values["flannel_net"] == "172.16.0.0/16"
    assert values["admission_control"] == DEFAULT_ADMISSION
    assert values["docker_opts"] == ""
    assert values["num_minions"] == "3"


@pytest.mark.parametrize(("ip", "role", "index"), [
    ("192.168.0.10", "ai", 0), ("192.168.0.11", "i", 1), ("192.168.0.12", "i", 2)])
def test_placement(ip: str, role: str, index: int) -> None:
    nodes = ["core@192.168.0.10", "core@192.168.0.11", "core@192.168.0.12"]
    here = place(nodes, ["ai", "i", "i"], ["127.0.0.1", ip])
    assert (here.ip, here.role, here.index, here.master_ip) == (ip, role, index, "192.168.0.10")


def test_placement_errors() -> None:
    with pytest.raises(ConfigError, match="none of this machine"):
        place(["core@10.0.0.1"], ["ai"], ["10.0.0.2"])
    with pytest.raises(ConfigError, match="no node has role a"):
        place(["core@10.0.0.1"], ["i"], ["10.0.0.1"])
    with pytest.raises(ConfigError, match="2 entries"):
        place(["a@1.1.1.1", "b@1.1.1.2"], ["ai"], [])
    with pytest.raises(ConfigError, match="not one of"):
        place(["core@10.0.0.1"], ["x"], ["10.0.0.1"])


@pytest.mark.parametrize(("text", "expected"), [
    ("A='single $NOT expanded'  # c", {"A": "single $NOT expanded"}),
    ('A="x"\nB="$A-${A}-${C:-dflt}"', {"A": "x", "B": "x-x-dflt"}),
    ("export A=1\nexport A", {"A": "1"}),
    ('R=(\n  "a b"  # first\n  c\n)', {"R": ["a b", "c"]}),
    ('E=""', {"E": ""}),
    ('Q="say \\"hi\\""', {"Q": 'say "hi"'}),
])
def test_shell_subset(text: str, expected: dict[str, Any]) -> None:
    assert parse_shell(text, env={}) == expected


@pytest.mark.parametrize("text", [
    "A=$(touch /tmp/pwned)", "A=`id`", 'A="$(id)"', "rm -rf /", "A=1; B=2", "A=(a b",
    "A='open", "A=two words",
])
def test_shell_refuses_what_it_would_have_to_run(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_shell(text, env={})


def test_yaml(tmp_path: Path) -> None:
    f = tmp_path / "node.yaml"
    f.write_text("portal-net: 10.0.0.0/24\nmax_pods: 20\nnodes: [core@10.1.1.1]\nroles: [ai]\n")
    assert load(f) == {"portal_net": "10.0.0.0/24", "max_pods": 20,
                       "nodes": ["core@10.1.1.1"], "roles": ["ai"]}
    f.write_text("- a\n")
    with pytest.raises(ConfigError, match="mapping"):
        load(f)


# --- through the command line (run_node replaced: we only look at the NodeConfig it gets) ---

@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[NodeConfig]:
    seen: list[NodeConfig] = []

    async def fake_run_node(cfg: NodeConfig) -> int:
        seen.append(cfg)
        return 0

    import minikube8s.roles as roles

    monkeypatch.setattr(roles, "run_node", fake_run_node)
    for name in list(__import__("os").environ):
        if name.startswith("MINIKUBE8S_"):
            monkeypatch.delenv(name)
    return seen


def run(args: list[str], env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli.app, args, env=env)


def test_defaults_are_a_one_node_cluster(captured: list[NodeConfig]) -> None:
    res = run(["--role", "ai"])
    assert res.exit_code == 0, res.output
    cfg = captured[0]
    assert cfg.role is Role.AI and cfg.runtime == "docker" and cfg.store == ""
    assert cfg.store_url.startswith("sqlite:///")
    assert (cfg.insecure_bind_address, cfg.insecure_port) == ("127.0.0.1", 8080)
    assert not cfg.drain_on_exit


def test_precedence_flag_env_file_default(captured: list[NodeConfig], tmp_path: Path) -> None:
    f = tmp_path / "c.sh"
    f.write_text("export PORTAL_NET=10.1.0.0/24\nFLANNEL_NET=10.2.0.0/16\n"
                 "MINIKUBE8S_MAX_PODS=7\nMAX_PODS=8\nKUBELET_PORT=0\n")
    env = {"MINIKUBE8S_FLANNEL_NET": "10.3.0.0/16", "MINIKUBE8S_PORTAL_NET": "10.4.0.0/24"}
    res = run(["--config", str(f), "--portal-net", "10.5.0.0/24"], env)
    assert res.exit_code == 0, res.output
    cfg = captured[0]
    assert cfg.portal_net == "10.5.0.0/24"      # flag over env and file
    assert cfg.flannel_net == "10.3.0.0/16"     # env over file
    assert cfg.max_pods == 8                    # file (its later line) over default
    assert cfg.kubelet_port == 0
    assert cfg.admission_control == DEFAULT_ADMISSION  # default


def test_env_names_every_flag(captured: list[NodeConfig], tmp_path: Path) -> None:
    env = {"MINIKUBE8S_ROLE": "i", "MINIKUBE8S_SERVER": "http://127.0.0.1:1",
           "MINIKUBE8S_DRAIN_ON_EXIT": "true", "MINIKUBE8S_NODE_IP": "127.0.0.1",
           "MINIKUBE8S_DATA_DIR": str(tmp_path), "MINIKUBE8S_POD_EVICTION_TIMEOUT": "5",
           "MINIKUBE8S_NODE_STATUS_UPDATE_FREQUENCY": "2.5"}
    res = run([], env)
    assert res.exit_code == 0, res.output
    cfg = captured[0]
    assert cfg.node_status_update_frequency == 2.5
    from minikube8s.roles.kubelet.kubelet import KubeletOptions
    assert KubeletOptions.from_config(cfg).heartbeat_interval == 2.5
    assert (cfg.role, cfg.server, cfg.drain_on_exit, cfg.node_ip, cfg.data_dir,
            cfg.pod_eviction_timeout) == (Role.I, "http://127.0.0.1:1", True, "127.0.0.1",
                                          tmp_path, 5.0)


@pytest.mark.parametrize(("ip", "role", "server", "bind"), [
    # the master's insecure port stays on loopback; minions join its HTTPS port
    ("192.168.0.10", Role.AI, "", "127.0.0.1"),
    ("192.168.0.11", Role.I, "https://192.168.0.10:6443", "127.0.0.1"),
    ("192.168.0.12", Role.I, "https://192.168.0.10:6443", "127.0.0.1"),
])
def test_seed_file_places_each_node(captured: list[NodeConfig], ip: str, role: Role,
                                    server: str, bind: str) -> None:
    res = run(["--config", str(SEED), "--node-ip", ip])
    assert res.exit_code == 0, res.output
    cfg = captured[0]
    assert (cfg.role, cfg.server, cfg.node_ip, cfg.node_name, cfg.insecure_bind_address) == (
        role, server, ip, ip, bind)
    assert cfg.portal_net == "192.168.3.0/24"


def test_join_token_flag_and_env(captured: list[NodeConfig]) -> None:
    token = "K10" + "ab" * 32 + "::server:s3cret"
    res = run(["--config", str(SEED), "--node-ip", "192.168.0.11"],
              {"MINIKUBE8S_TOKEN": token})
    assert res.exit_code == 0, res.output
    assert (captured[0].server, captured[0].token) == ("https://192.168.0.10:6443", token)
    res = run(["--role", "i", "--server", "https://h:6443", "--token", "t2"])
    assert res.exit_code == 0, res.output
    assert captured[1].token == "t2"


def test_explicit_role_and_server_win_over_the_file(captured: list[NodeConfig]) -> None:
    res = run(["--config", str(SEED), "--node-ip", "192.168.0.11", "--role", "ai",
               "--node-name", "n2"])
    assert res.exit_code == 0, res.output
    assert (captured[0].role, captured[0].server, captured[0].node_name) == (Role.AI, "", "n2")


@pytest.mark.parametrize(("content", "needle"), [
    ("NO_SUCH_FLAG=1\n", "unknown setting 'no_such_flag'"),
    ("MAX_PODS=many\n", "max_pods"),
    ("A=$(id)\n", "command substitution"),
])
def test_bad_file_is_exit_2(captured: list[NodeConfig], tmp_path: Path, content: str,
                            needle: str) -> None:
    f = tmp_path / "bad.sh"
    f.write_text(content)
    res = run(["--config", str(f)])
    assert res.exit_code == 2
    assert needle in res.output
    assert not captured


def test_unknown_node_address_is_exit_2(captured: list[NodeConfig]) -> None:
    res = run(["--config", str(SEED), "--node-ip", "10.9.9.9"])
    assert res.exit_code == 2
    assert "none of this machine's addresses" in res.output
