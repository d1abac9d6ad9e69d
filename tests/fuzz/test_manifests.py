"""The CLI's manifest reader (cli/manifests.py) on arbitrary text and odd YAML: objects that
JSON can carry (what the CLI sends next), or one ``CLIError`` whose printed form is one line.
The inputs are test_decoding.py's."""

from __future__ import annotations

import json

import yaml
from hypothesis import given

from minikube8s.cli import manifests
from minikube8s.cli.errors import CLIError, describe
from tests.fuzz.objects import VALID
from tests.fuzz.profiles import fuzz
from tests.fuzz.test_decoding import texts, yaml_documents


def _read(text: str) -> list[manifests.Manifest] | None:
    try:
        return manifests.load(["-"], stdin=text)
    except CLIError as e:
        line = describe(e)
        assert line.startswith("error: ")
        assert "\n" not in line and "\r" not in line, line
        return None


@given(texts)
@fuzz(400)
def test_manifest_reader_gives_objects_or_one_line(text: str) -> None:
    got = _read(text)
    for m in got or []:
        assert isinstance(m.obj, dict)
        assert m.kind and m.api_version
        # What the CLI sends next must be JSON it can encode.
        json.dumps(m.obj)


@given(yaml_documents())
@fuzz(200)
def test_manifest_reader_on_odd_yaml(text: str) -> None:
    got = _read(text)
    for m in got or []:
        json.dumps(m.obj)
        assert all(isinstance(k, str) for k in m.obj)


def test_reference_pod_manifest_reads() -> None:
    got = _read(yaml.safe_dump(VALID["pods"]))
    assert got is not None and got[0].obj == VALID["pods"]
