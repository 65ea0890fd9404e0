"""The repository stands on its own: no committed file cites a path outside it.

The project was built beside a folder of notes and reference data that users never get; what the
code needs from it ships in the repository (plugins/tasks/data/) and what comments cited is
summarised in docs/reference.md. ``results/`` is left out: its tables record the commands that made
them, output folders included, as run.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = re.compile(
    r"\.\./shared|shared/(reference|data)|(?:^|[\s`'\"(=])/work/|"
    + r"(hrm_trm_reference|gpu_anchor|suites_halting_plugins|KINDS)\.md"
)


def tracked_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the committed files are unknown")
    return [ROOT / name for name in out.decode().split("\0") if name and not name.startswith("results/")]


def test_no_committed_file_cites_a_path_outside_the_repository():
    found = []
    for path in tracked_files():
        if path == Path(__file__).resolve() or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary
        for lineno, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()}")
    assert not found, "paths outside the repository:\n" + "\n".join(found)
