"""Every command the README and the docs show works as written on a fresh clone.

The commands are read out of the Markdown files (fenced shell blocks, indented blocks, inline code).
Each ``looped-hrm`` command (also written ``python -m looped_hrm``, ``python -m looped_hrm.bench``
or under ``torchrun``) must parse; a synopsis with placeholders (``DIR``, ``[--test-file FILE]``)
must name a real command and real options. The cheap ones then run, in a scratch copy of the
repository's layout: ``--help``, ``plugins``, ``info``, ``report`` and ``floors`` on the committed
results, and every grid command with ``--dry-run`` (the grid resolved and validated, nothing
trained). ``trace`` and ``analyze`` run as far as a clone allows: they must stop only because the
checkpoints are not committed. ``train``, ``eval`` and ``speed`` train or need a checkpoint of the
official code, so they are only parsed. ``pytest`` commands must name paths that exist.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from looped_hrm import bench, commands, registry

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "looped-hrm-example-plugin"
EXAMPLE_MODULES = ["looped_hrm_example", "looped_hrm_example.model", "looped_hrm_example.policy"]
DOCUMENTS = sorted(
    [
        ROOT / "README.md",
        ROOT / "CONTRIBUTING.md",
        *(ROOT / "docs").rglob("*.md"),
        *(ROOT / "benchmarks").rglob("README.md"),
        EXAMPLE / "README.md",
    ]
)
# The committed results of the README's main command, under the name the command writes.
COMMITTED_AS = {"results/sudoku_hrm-baseline_small": "results/sudoku-small-default"}
RUN_AS_IS = {"plugins", "info", "report", "floors"}
NEEDS_CHECKPOINTS = {"trace", "analyze"}
SHELL_LANGUAGES = {"", "bash", "sh", "shell", "console"}
PLACEHOLDER = re.compile(r"^([A-Z][A-Z0-9_]*|<[^>]*>|.*\|.*|\.\.\.)$")


@dataclass(frozen=True)
class Command:
    where: str  # file:line
    argv: tuple[str, ...]  # the words after the program (`looped-hrm ...`) or after `pytest`
    program: str  # "looped-hrm" or "pytest"
    folder: Path  # the document's folder: relative paths in an example's README start there

    def __str__(self) -> str:
        return f"{self.where}: {self.program} {shlex.join(self.argv)}"


def _snippets(text: str) -> list[tuple[int, str]]:
    """(line, shell text) of every fenced shell block line, indented block line and inline code span."""
    found: list[tuple[int, str]] = []
    lines = text.splitlines()
    fence: str | None = None
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else stripped[3:].strip()
            continue
        if fence is not None:
            if fence in SHELL_LANGUAGES:
                found.append((number, line))
            continue
        if line.startswith("    ") and stripped:
            found.append((number, stripped))
            continue
        found += [(number, span) for span in re.findall(r"`([^`]+)`", line)]
    return found


def _join_continuations(snippets: list[tuple[int, str]]) -> list[tuple[int, str]]:
    joined: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, text in snippets:
        if pending is not None:
            number, text = pending[0], pending[1] + " " + text.strip()
        if text.rstrip().endswith("\\"):
            pending = (number, text.rstrip()[:-1])
            continue
        pending = None
        joined.append((number, text))
    return joined


def _command(words: list[str]) -> tuple[str, list[str]] | None:
    """(program, arguments) for a looped-hrm or pytest command line, else None."""
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):  # FOO=bar before the program
        words = words[1:]
    if not words:
        return None
    if words[0] == "looped-hrm":
        return "looped-hrm", words[1:]
    if words[0] in ("python", "python3") and words[1:2] == ["-m"] and len(words) > 2:
        if words[2] == "looped_hrm":
            return "looped-hrm", words[3:]
        if words[2] == "looped_hrm.bench":
            rest = words[3:]
            return "looped-hrm", rest if rest and rest[0] in bench.ALIASED else ["run", *rest]
    if words[0] == "torchrun" and "-m" in words:
        at = words.index("-m")
        if words[at + 1 : at + 2] == ["looped_hrm"]:
            return "looped-hrm", words[at + 2 :]
    if words[0] == "pytest":
        return "pytest", words[1:]
    return None


def commands_in(text: str) -> list[tuple[int, str, list[str]]]:
    """(line, program, arguments) of every looped-hrm or pytest command line in a Markdown text."""
    found = []
    for number, snippet in _join_continuations(_snippets(text)):
        try:
            words = shlex.split(snippet, comments=True)
        except ValueError:
            continue  # prose in backticks, not a command line
        part: list[str] = []
        for word in [*words, "&&"]:
            if word not in ("&&", ";", "||"):
                part.append(word)
                continue
            command = _command(part)
            part = []
            if command is not None and command[1]:  # a bare program name is a mention, not a command
                found.append((number, *command))
    return found


def documented_commands() -> list[Command]:
    return [
        Command(f"{path.relative_to(ROOT)}:{number}", tuple(argv), program, path.parent)
        for path in DOCUMENTS
        for number, program, argv in commands_in(path.read_text())
    ]


COMMANDS = documented_commands()
LOOPED = [c for c in COMMANDS if c.program == "looped-hrm"]


def _is_synopsis(argv: tuple[str, ...]) -> bool:
    return any(PLACEHOLDER.match(word.strip("[]")) or word.startswith("[") for word in argv)


def _is_mention(command: Command) -> bool:
    """``looped-hrm train`` in a sentence names the command; only the commands that need no
    arguments are run as they stand."""
    return len(command.argv) == 1 and command.argv[0] != "plugins"


def _filled(argv: tuple[str, ...]) -> list[str]:
    """A synopsis for the parser: brackets dropped, ``...`` dropped, every other placeholder ``1``."""
    words = [word.strip("[]") for word in argv if word != "..."]
    return ["1" if PLACEHOLDER.match(word) else word for word in words]


def test_the_documents_show_every_command():
    # the extraction itself: a regression here would let every other check pass vacuously
    shown = {c.argv[0] for c in LOOPED}
    assert shown >= {"run", "report", "analyze", "train", "eval", "trace", "speed", "floors", "plugins", "info"}
    assert len(LOOPED) >= 25 and any(c.program == "pytest" for c in COMMANDS)


@pytest.mark.parametrize("command", LOOPED, ids=str)
def test_documented_command_parses(command: Command):
    """argparse accepts it: the command exists and every option is one of its options."""
    if PLACEHOLDER.match(command.argv[0]):
        return  # `looped-hrm <command>`: the form of every command, not one
    if _is_mention(command):
        assert command.argv[0] in commands.COMMANDS, f"{command}: no such command"
        return
    argv = _filled(command.argv) if _is_synopsis(command.argv) else list(command.argv)
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            commands.build_parser().parse_args(argv)
        except SystemExit as exc:
            assert exc.code == 0, f"{command}\n{stderr.getvalue()}"  # --help exits 0


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The repository's layout in a scratch folder (results/ copied as needed), the example plugin
    installed (README: `pip install -e examples/looped-hrm-example-plugin`)."""
    for entry in ROOT.iterdir():
        if entry.name not in ("results", ".git"):
            (tmp_path / entry.name).symlink_to(entry)
    (tmp_path / "results").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.setattr(registry, "_REGISTRY", registry.build_registry(extra_modules=EXAMPLE_MODULES))
    return tmp_path


def _copy_results(argv: list[str], workspace: Path) -> None:
    for word in argv:
        folder = "/".join(Path(word).parts[:2])
        source = ROOT / COMMITTED_AS.get(folder, folder)
        if folder.startswith("results/") and source.is_dir() and not (workspace / folder).exists():
            shutil.copytree(source, workspace / folder, ignore=shutil.ignore_patterns("work"))


def _run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = commands.main(argv)
        except SystemExit as exc:  # --help
            code = int(exc.code or 0)
    return code, err.getvalue()


CHEAP = [
    c
    for c in LOOPED
    if not _is_synopsis(c.argv)
    and not _is_mention(c)
    and ("--help" in c.argv or c.argv[0] in RUN_AS_IS | NEEDS_CHECKPOINTS or c.argv[0] == "run")
]


@pytest.mark.parametrize("command", CHEAP, ids=str)
def test_documented_command_runs(command: Command, workspace: Path):
    """Cheap commands run as written; a grid command runs with --dry-run (resolved and validated,
    nothing trained); trace and analyze run until they need the checkpoints a clone does not have."""
    argv = list(command.argv)
    if argv[0] == "run" and "--help" not in argv and "--dry-run" not in argv:
        argv.append("--dry-run")
    _copy_results(argv, workspace)
    code, err = _run(argv)
    if argv[0] in NEEDS_CHECKPOINTS and "--help" not in argv:
        assert code == 2 and "checkpoint" in err, f"{command} -> exit {code}, not for want of a checkpoint:\n{err}"
    elif code == 2 and "pip install 'looped-hrm[" in err:
        pass  # needs an optional extra (ray) that the document installs first and the dev install lacks
    else:
        assert code == 0, f"{command} -> exit {code}\n{err}"


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.program == "pytest"], ids=str)
def test_documented_pytest_paths_exist(command: Command):
    words = list(command.argv)
    paths = [
        w for i, w in enumerate(words) if not w.startswith("-") and (i == 0 or words[i - 1] not in ("-k", "-m", "-n"))
    ]
    for path in paths:
        assert (command.folder / path).exists() or (ROOT / path).exists(), f"{command}: no {path}"


def test_extraction_reads_blocks_continuations_and_aliases():
    text = (
        "Run `looped-hrm plugins` or\n\n```bash\nOMP_NUM_THREADS=1 python -m looped_hrm.bench --tasks a \\\n"
        "  --models b   # comment\ntorchrun --standalone -m looped_hrm train --task t && pytest tests\n```\n"
        "```python\nlooped-hrm info\n```\n\n    python -m looped_hrm.bench report x\n"
    )
    assert commands_in(text) == [
        (1, "looped-hrm", ["plugins"]),
        (4, "looped-hrm", ["run", "--tasks", "a", "--models", "b"]),
        (6, "looped-hrm", ["train", "--task", "t"]),
        (6, "pytest", ["tests"]),
        (12, "looped-hrm", ["report", "x"]),
    ]
