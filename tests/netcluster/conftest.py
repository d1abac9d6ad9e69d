"""Three namespace nodes with real Docker, one cluster per module (tests/fixtures/netcluster.py)."""

from tests.fixtures.netcluster import net_cluster  # noqa: F401 - the fixture, for this package
