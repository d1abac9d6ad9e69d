"""Fixtures for the security tests: the in-process ``api`` and ``apiserver`` process come from
tests/conftest.py; this module adds nothing shared yet."""
