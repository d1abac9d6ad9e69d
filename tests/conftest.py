"""Shared fixtures: a real etcd (tests/fixtures/etcd.py), API servers (apiserver.py) and a
cluster of processes (cluster.py)."""

pytest_plugins = ["tests.fixtures.etcd", "tests.fixtures.apiserver", "tests.fixtures.cluster"]
