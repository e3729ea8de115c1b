"""Docs that cannot drift: every repository path named in the README, the other Markdown
files, docstrings and comments exists, and the README's layout tree names real modules
and every package."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOP = r"(?:contract|producer|worker|server|mockapi|respq|tests|bench|scripts|examples|docs|\.ci)"
# A path starts at one of the repository's folders, not inside a longer word or path, and is
# not a version ("respq/0.1" in a User-Agent).
PATH = re.compile(rf"(?<![\w/.\-~$<])({TOP}/(?!\d)[\w.\-/]*\w)")
SKIP_SUFFIXES = {".png", ".jsonl", ".json", ".whl"}


def tracked_texts() -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [
        ROOT / n
        for n in names
        if (ROOT / n).is_file()
        and not (ROOT / n).is_symlink()
        and (ROOT / n).suffix not in SKIP_SUFFIXES
    ]


def missing_paths(text: str) -> set[str]:
    return {m.group(1) for m in PATH.finditer(text) if not (ROOT / m.group(1)).exists()}


def test_every_path_a_document_or_comment_names_exists() -> None:
    wrong = {
        f"{path.relative_to(ROOT)} names {missing}"
        for path in tracked_texts()
        for missing in missing_paths(path.read_text(encoding="utf-8", errors="replace"))
    }
    assert not wrong, sorted(wrong)


# Code in a document imports respq's parts as respq.<part>: "from producer import X" is the
# layout from before the one import name, and fails for every user.
OLD_IMPORT = re.compile(r"^\s*(?:from|import) (?:contract|producer|worker|server|mockapi)\b", re.M)


def test_no_document_shows_an_import_of_a_part_outside_respq() -> None:
    documents = [p for p in tracked_texts() if p.suffix == ".md"]
    wrong = [
        f"{path.relative_to(ROOT)}: {match.group(0).strip()}"
        for path in documents
        for match in OLD_IMPORT.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not wrong, wrong
    assert OLD_IMPORT.search("```python\nfrom producer import BatchClient\n```")
    assert not OLD_IMPORT.search("from respq.producer import BatchClient")


def test_the_path_check_sees_a_path_that_does_not_exist() -> None:
    gone = "producer/" + "lua/dispatch.lua"  # split, so this file names no missing path
    assert missing_paths(f"see ``{gone}`` and worker/app.py") == {gone}
    assert missing_paths("User-Agent: respq/0.1 (python-httpx)") == set()


def readme_tree() -> dict[str, list[str]]:
    """The layout block of the README's "How it works": package folder → names listed."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## How it works", 1)[1].split("\n## ", 1)[0]
    block = next(b for b in section.split("```")[1::2] if re.search(r"^contract/", b, re.M))
    tree: dict[str, list[str]] = {}
    current = ""
    for line in block.splitlines():
        top = re.match(r"^([\w]+/)\s", line + " ")
        if top:
            current = top.group(1)
            tree[current] = []
        elif current and line.startswith("  "):
            tree[current].extend(re.findall(r"(?<![\w/.])([a-z_]\w*(?:\.py|\.lua|/))", line))
    return tree


def test_the_readme_layout_tree_matches_the_packages() -> None:
    tree = readme_tree()
    packages = {p.parent.name + "/" for p in ROOT.glob("*/__init__.py")} - {"tests/", "bench/"}
    packages -= {"respq/"}  # the root that links the others in
    assert set(tree) == packages, "the tree must list exactly the packages"
    wrong = [
        f"{folder}{name}"
        for folder, names in tree.items()
        for name in names
        if not any((ROOT / folder).rglob(name.rstrip("/")))
    ]
    assert not wrong, f"the README's layout tree names what does not exist: {wrong}"
