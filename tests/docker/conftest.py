"""Docker tests share one real node per module (tests/fixtures/docker.py)."""

from tests.fixtures.docker import docker_node  # noqa: F401 - the fixture, for this package
