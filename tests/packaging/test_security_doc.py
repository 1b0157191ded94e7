"""SECURITY.md stays true to the tree: the files and tests it cites exist, and the corpus size
it quotes is the corpus size."""

from __future__ import annotations

import re

from tests.packaging.badinputs import all_cases
from tests.packaging.tools import ROOT

TEXT = (ROOT / "SECURITY.md").read_text()


def test_cited_paths_and_tests_exist() -> None:
    paths = set(re.findall(r"`((?:tests|finnexus_operator|charts|crds)/[^`\s:]*|Dockerfile)`",
                           TEXT))
    assert paths, "SECURITY.md cites no files"
    for path in paths:
        assert (ROOT / path).exists(), path
    tests = (ROOT / "tests").rglob("test_*.py")
    names = {n for f in tests for n in re.findall(r"^def (test_\w+)", f.read_text(), re.M)}
    for cited in re.findall(r"`(test_\w+)`", TEXT):
        assert cited in names, cited


def test_corpus_size_is_quoted_right() -> None:
    assert f"holds {len(all_cases())} bad manifests" in TEXT


def test_the_readme_links_to_it() -> None:
    assert "[SECURITY.md](SECURITY.md)" in (ROOT / "README.md").read_text()
