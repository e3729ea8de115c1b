"""A real browser for the dashboard tests: Debian's chromium, headless, driven by
Playwright (its own browser download cannot work here), and what the pages are checked
with: a chart's coloured pixels and a page's width."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Coloured pixels in every canvas under an element. Axes, grid lines and labels are grey;
# the series are drawn in colour, so this counts what the data put on the chart.
CANVAS_COLOUR_JS = """(selector) => {
  let coloured = 0;
  for (const canvas of document.querySelectorAll(selector + ' canvas')) {
    const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < d.length; i += 4) {
      const [r, g, b, a] = [d[i], d[i + 1], d[i + 2], d[i + 3]];
      if (a > 0 && Math.max(r, g, b) - Math.min(r, g, b) > 60) coloured++;
    }
  }
  return coloured;
}"""
# How far a page is wider than its window (0: nothing to scroll sideways).
OVERFLOW_JS = "() => document.documentElement.scrollWidth - window.innerWidth"


def chromium() -> Iterator[Any]:
    """A headless chromium for a module (use as a fixture body); skipped where it is missing,
    except in CI."""
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        message = f"{CHROMIUM} is missing (apt-get install -y chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
