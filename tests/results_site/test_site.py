"""``report DIR --html`` end to end on a tiny run logged with ``--log-samples``, and the site opened in
a real browser: headless Chromium driven by Playwright (skipped, with the reason, where either is
missing; CI installs both)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest

from looped_hrm.commands import main
from looped_hrm.evaluation.samples import read_samples
from looped_hrm.registry import get_registry
from looped_hrm.report import cells, tables
from looped_hrm.report.records import write_run_file
from looped_hrm.report.site.browser import launch, why_no_browser
from looped_hrm.runner.grid import BenchmarkConfig, expand
from looped_hrm.runner.worker import run_combination

pytestmark = pytest.mark.slow  # trains four tiny models

# The plumbing, not the accuracy: a few steps of the tiny presets (as tests/inspection).
TRAIN = {"steps": 12, "batch_size": 16, "max_segments": 3, "log_every": 4, "warmup_steps": 2}
EVAL = {"limit": 24, "curve": [1, 2], "fixed_segments": 4, "batch_size": 32}


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory):
    """A results folder: Sudoku (drawn by its picture) and parity (drawn as text) × HRM and the
    baseline, act_q, one seed, every test puzzle logged; its site built by ``report --html``."""
    out = tmp_path_factory.mktemp("logged")
    bench = BenchmarkConfig(
        name="tiny-site",
        preset="tiny",
        device="cpu",
        tasks=["sudoku", "parity"],
        models=["hrm", "baseline"],
        halting=["act_q"],
        train=dict(TRAIN),
        eval=dict(EVAL),
    )
    combos = expand(bench, get_registry())
    for combo in combos:
        record = run_combination(combo, out, threads=1, log_samples=True)
        assert record["status"] == "ok", record.get("traceback")
    write_run_file(out, name="tiny-site", command="(tests/results_site/test_site.py)", keys=[c.key for c in combos])
    assert main(["report", str(out), "--html"]) == 0
    return out


def site_bytes(site: Path) -> dict[str, bytes]:
    return {str(p.relative_to(site)): p.read_bytes() for p in sorted(site.rglob("*")) if p.is_file()}


def test_report_html_writes_a_self_contained_site_that_rebuilds_identically(logged_run, capsys):
    site = logged_run / "site"
    before = site_bytes(site)
    html = before["index.html"].decode()
    linked = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert linked and all(not re.match(r"^[a-z]+:|^//", link) for link in linked)  # nothing from a network
    assert all(link.startswith("#") or link in before for link in linked)  # every file it loads is there
    assert {"assets/vendor/uPlot.iife.min.js", "assets/vendor/uPlot.LICENSE", "data/report.js"} <= set(before)
    records = cells.load_records(logged_run)
    for rec in records:
        assert f"data/puzzles/{rec['key']}.js" in before
    assert main(["report", str(logged_run), "--html"]) == 0
    assert re.search(r"site: .*index\.html \(\d+ files, [\d.]+ MB; 96 puzzles of 4 runs\)", capsys.readouterr().out)
    assert site_bytes(site) == before  # a pure function of the records and logs
    assert not (logged_run / "site.partial").exists() and not (logged_run / "site.old").exists()


def test_html_puzzles_limits_each_run_and_a_bad_value_is_one_error_line(logged_run, tmp_path, capsys):
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("runs", "run.json"):
        src = logged_run / name
        (copy / name).symlink_to(src, target_is_directory=src.is_dir())
    assert main(["report", str(copy), "--html", "--html-puzzles", "5"]) == 0
    text = (copy / "site" / "data" / "report.js").read_text()
    data = json.loads(text[text.index("(") + 1 : text.rindex(")")])
    assert [(r["shown"], r["total"]) for r in data["puzzles"]] == [(5, 24)] * 4
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main(["report", str(copy), "--html", "--html-puzzles", "some"])
    assert stop.value.code == 2 and "expected a number of puzzles >= 0 or 'all', got 'some'" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ browser


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    reason = why_no_browser()
    if reason:
        pytest.skip(f"no browser for the site test: {reason}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = launch(playwright, tmp_path_factory.mktemp("profile"))
        yield context
        context.close()


def row_texts(page, table: str, columns: int) -> list[tuple[str, ...]]:
    rows = page.locator(f'table[data-table="{table}"] tbody tr')
    return [tuple(rows.nth(i).locator("td").all_inner_texts()[:columns]) for i in range(rows.count())]


def test_the_site_in_a_real_browser(logged_run, browser):
    started = time.perf_counter()
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("console", lambda msg: errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    url = (logged_run / "site" / "index.html").as_uri()

    # the leaderboard renders the cells and runs of the records, with the tables' own numbers
    page.goto(url + "#leaderboard")
    records = cells.load_records(logged_run)
    summary = tables.summary(cells.cells(records))
    expected = [tuple(r) for r in summary[["task", "model", "halting", "seeds", "exact acc"]].astype(str).values]
    assert row_texts(page, "summary", 5) == expected
    assert len(row_texts(page, "runs", 4)) == len(records) == 4

    # a filter works: only HRM's rows stay, in every table that has a model column, and the URL keeps it
    page.select_option("#filter-model", "hrm")
    page.wait_for_function("location.hash.includes('model=hrm')")
    assert [r[1] for r in row_texts(page, "summary", 2)] == ["hrm", "hrm"]
    assert [r[1] for r in row_texts(page, "runs", 2)] == ["hrm", "hrm"]
    heads = page.locator('table[data-table="leaderboard"] thead th').all_inner_texts()
    assert heads[:2] == ["task", "hrm"] and "baseline:copy" in heads  # the trivial baselines stay, for reference
    assert all(h.startswith("baseline:") for h in heads[2:])
    margin_heads = page.locator('table[data-table="margins"] thead th').all_inner_texts()
    assert margin_heads == ["task", "best trivial baseline", "hrm"]

    # stepping through a puzzle changes the drawn grid: the Sudoku puzzle and segment where the most
    # tokens change, found in the sample log itself
    rec = next(
        r
        for r in records
        if r["combination"]["task"]["label"] == "sudoku" and r["combination"]["model"]["label"] == "hrm"
    )
    samples = read_samples(logged_run / "runs" / rec["samples"])
    moves = [
        (int((np.array(b) != np.array(a)).sum()), s["index"], k, len(s["predictions"]))
        for s in samples
        for k, (a, b) in enumerate(zip([s["input"], *s["predictions"]], s["predictions"]))
    ]
    changed, index, segment, segments = max(moves)
    assert changed > 0
    page.goto(f"{url}#puzzles?run={rec['key']}&p={index}&seg={segment}")
    grid = page.locator("#prediction svg")
    grid.wait_for()
    before = grid.evaluate("e => e.outerHTML")
    page.click("#segment-next")
    page.wait_for_function(
        f"document.getElementById('segment-label').textContent === 'segment {segment + 1} of {segments}'"
    )
    assert grid.evaluate("e => e.outerHTML") != before
    assert page.locator("#prediction rect.changed").count() == changed  # the tokens that changed, outlined
    page.keyboard.press("ArrowLeft")  # and back
    page.wait_for_function(
        f"document.getElementById('segment-label').textContent !== 'segment {segment + 1} of {segments}'"
    )
    assert grid.evaluate("e => e.outerHTML") == before

    # the same test puzzle in another run of the task: the baseline's answer to it
    other = next(r for r in records if r["combination"]["task"]["label"] == "sudoku" and r is not rec)
    page.select_option("#puzzle-run", other["key"])
    page.wait_for_function(f"location.hash.includes('run={other['key']}')")
    assert page.locator("#puzzle-title").inner_text() == f"Test puzzle #{index}"

    # the puzzle filters: wrong answers only
    page.select_option("#puzzle-outcome", "wrong")
    page.wait_for_function("location.hash.includes('outcome=wrong')")
    wrong = sum(not s["correct"] for s in read_samples(logged_run / "runs" / other["samples"]))
    assert page.locator("#puzzle-list li").count() == min(wrong, 50)

    # a task without a picture is drawn as its text
    parity = next(r for r in records if r["combination"]["task"]["label"] == "parity")
    page.goto(f"{url}#puzzles?run={parity['key']}")
    page.locator("#prediction svg text").first.wait_for()

    # every page draws, the charts included
    for name in ("leaderboard", "comparisons", "buckets", "curves", "puzzles", "provenance"):
        page.goto(f"{url}#{name}")
        page.wait_for_function(f"document.getElementById('page').dataset.page === '{name}'")
        assert page.locator("#page h2").count() >= 1, name
    page.goto(url + "#curves")
    assert page.locator(".uplot canvas").count() >= 2
    page.goto(url + "#provenance")
    page.locator('table[data-table="provenance"] tbody tr').first.click()
    assert '"git_commit"' in page.locator("#run-detail pre").inner_text()

    page.close()
    assert errors == []
    print(f"browser checks: {time.perf_counter() - started:.1f} s")
