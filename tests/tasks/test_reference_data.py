"""The reference puzzles shipped in plugins/tasks/data: every file is the one its checksum names, every
file is listed, and the licences they come under are beside them."""

from __future__ import annotations

import hashlib

from looped_hrm.plugins.tasks.reference_data import ROOT

NOT_DATA = {"README.md", "SHA256SUMS"}


def listed() -> dict[str, str]:
    sums = {}
    for line in (ROOT / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        sums[name] = digest
    return sums


def test_every_file_matches_its_checksum():
    sums = listed()
    assert len(sums) == 9
    for name, digest in sums.items():
        assert hashlib.sha256((ROOT / name).read_bytes()).hexdigest() == digest, name


def test_every_data_file_is_listed_and_licensed():
    files = {p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    licences = {name for name in files if name.rsplit("/", 1)[-1].startswith("LICENSE")}
    assert files - NOT_DATA - licences == set(listed())
    assert licences == {
        "sudoku/LICENSE-tdoku-BSD-2-Clause.txt",
        "sudoku/LICENSE-sudoku-exchange-puzzle-bank-Unlicense.txt",
    }
    readme = (ROOT / "README.md").read_text()
    for name in listed():
        assert name.rsplit("/", 1)[-1] in readme, f"{name}: not described in README.md"
