"""The README points only at what a clone of the repository has."""

from __future__ import annotations

import re

from tests.conftest import PROJECT_ROOT


def test_every_relative_link_of_the_readme_is_in_the_repository():
    text = (PROJECT_ROOT / "README.md").read_text()
    targets = [t.split("#")[0] for t in re.findall(r"\]\(([^)#][^)]*)\)", text) if "://" not in t]
    assert targets, "the README links to files of the project"
    for target in targets:
        assert not target.startswith(".."), f"{target} is outside the repository"
        assert (PROJECT_ROOT / target).exists(), f"{target} does not exist"
    # The house style file lives beside the repository, not in it.
    assert "STYLE.md" not in text and "../shared" not in text
