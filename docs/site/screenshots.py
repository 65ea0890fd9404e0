"""Screenshots of every page of a results site, for the README (docs/site/*.png).

    python -m looped_hrm report results/NAME --html
    python docs/site/screenshots.py results/NAME/site docs/site

Needs the ``browser`` extra and a system Chromium (`looped_hrm.report.site.browser`). The puzzle page
is taken on the first run that has logged puzzles, at its first puzzle whose answer changes from one
segment to the next (so the picture shows changed cells), on that segment.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from looped_hrm.report.site.browser import launch, why_no_browser

PAGES = ("leaderboard", "comparisons", "buckets", "curves", "puzzles", "provenance")


def read_call(path: Path) -> list:
    """The arguments of the one call a site data script makes."""
    text = path.read_text()
    return json.loads("[" + text[text.index("(") + 1 : text.rindex(")")] + "]")


def puzzle_view(site: Path) -> str:
    """``#puzzles?...`` at the latest segment that changes an answer, over every run's puzzles (so
    the picture shows a step with its changed cells outlined)."""
    (report,) = read_call(site / "data" / "report.js")
    best, view = -1, "puzzles"
    for run in report["puzzles"]:
        _, payload = read_call(site / run["file"])
        cols = payload["puzzles"]
        for i in range(payload["count"]):
            frames = cols["frames"][i]
            for k, changed in enumerate(cols["changed"][i], start=1):
                moved = changed if changed is not None else frames[k] not in ([], frames[k - 1])
                if moved and k > best:
                    best, view = k, f"puzzles?run={run['key']}&p={cols['index'][i]}&seg={k}"
    return view


def shrink(path: Path) -> None:
    """256 colours are plenty for a page of text and flat charts: about a third of the bytes."""
    try:
        from PIL import Image  # with matplotlib (the dev and plot extras)
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(256)
    small.save(path, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path, help="a site folder written by report --html")
    parser.add_argument("out", type=Path, help="folder for the PNG files (site-<page>.png)")
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args(argv)
    reason = why_no_browser()
    if reason:
        print(f"error: {reason}", file=sys.stderr)
        return 2
    if not (args.site / "index.html").is_file():
        print(f"error: {args.site}: no index.html (build it with report DIR --html)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = launch(playwright, profile, width=args.width, height=800)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        url = (args.site.resolve() / "index.html").as_uri()
        for name in PAGES:
            page.goto(f"{url}#{puzzle_view(args.site) if name == 'puzzles' else name}")
            page.wait_for_function(f"document.getElementById('page').dataset.page === '{name}'")
            page.wait_for_timeout(300)  # the puzzle file's script and the charts
            path = args.out / f"site-{name}.png"
            page.screenshot(path=str(path), full_page=name != "provenance")
            shrink(path)
            print(path)
        context.close()
    for error in errors:
        print(f"error: JavaScript: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
