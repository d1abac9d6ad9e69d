"""Shared fixtures: a real etcd (tests/fixtures/etcd.py) and friends."""

pytest_plugins = ["tests.fixtures.etcd", "tests.fixtures.apiserver"]
