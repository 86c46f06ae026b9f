"""The repository's LICENSE and CITATION.cff agree with the package metadata."""

from __future__ import annotations

from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_licence_file_matches_the_declared_licence() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["license"]
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert declared == "Apache-2.0"
    assert "Apache License" in text and "Version 2.0, January 2004" in text


def test_citation_file_cites_the_paper() -> None:
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert cff["cff-version"] == "1.2.0" and cff["version"] == meta["version"]
    assert cff["license"] == meta["license"]
    paper = cff["preferred-citation"]
    assert paper["title"].startswith("Entropy-Guided Dynamic Tokens")
    assert paper["year"] == 2026 and paper["authors"][0]["family-names"] == "Jing"
    assert any(i["value"] == "arXiv:2602.02742" for i in paper["identifiers"])
