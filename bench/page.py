"""Time for the release page to render 5, 55 and 125 objects after its data arrived.

Runs the page test (tests/api/test_release_page.py: a real sandbox, `serve`, headless
Chromium) and prints the figures it measures in the browser: the tables drawn, and the
layout of the dependency picture done. Target: the page rendered within 1 s at 125 objects.

    uv run python bench/page.py
"""

from __future__ import annotations

import re
import subprocess
import sys

FIGURE = re.compile(r"release page, (\d+) objects: rendered in (\d+) ms|layout done (\d+) ms")


def main() -> None:
    test = "tests/api/test_release_page.py::test_release_page"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", test, "-s", "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        check=False,
    )
    figures = [m for line in proc.stdout.splitlines() if (m := FIGURE.search(line))]
    if proc.returncode != 0 or not figures:
        sys.exit(f"the page test failed:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    for found in figures:
        if found.group(1):
            size, rendered = found.group(1), found.group(2)
            target = "   target < 1000 ms" if size == "125" else ""
            print(f"release page, {size:>3} objects: rendered {rendered:>5} ms{target}", end="")
        else:
            print(f"; layout done {found.group(3)} ms")


if __name__ == "__main__":
    main()
