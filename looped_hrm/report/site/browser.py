"""A headless Chromium for the site's browser tests and its screenshots (needs the ``browser`` extra:
``pip install -e ".[browser]"``, Playwright's Python package, and a Chromium the system installed,
e.g. Debian's ``apt-get install chromium``; Playwright's own browser download is never used).

The flags keep a browser on a machine without a network quiet and self-contained: no background
connections, component updates, sync or QUIC, no GPU, and a fresh profile per launch.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """``$LOOPED_HRM_CHROMIUM``, else the first Chromium on the PATH (None: none installed)."""
    chosen = os.environ.get("LOOPED_HRM_CHROMIUM")
    if chosen:
        return chosen if Path(chosen).is_file() else None
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


def why_no_browser() -> str | None:
    """Why the site cannot be opened in a browser here (None: it can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[browser]')"
    if find_chromium() is None:
        return "no Chromium found (apt-get install chromium, or set LOOPED_HRM_CHROMIUM to its path)"
    return None


def launch(playwright: Any, profile: str | Path, *, width: int = 1400, height: int = 900) -> Any:
    """A browser context on a fresh profile folder ``profile``; close it when done."""
    executable = find_chromium()
    if executable is None:
        raise RuntimeError(why_no_browser() or "no Chromium")
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=executable,
        args=FLAGS,
        headless=True,
        viewport={"width": width, "height": height},
    )
