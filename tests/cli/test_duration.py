"""Go durations for --timeout: held to Go's own time.ParseDuration on the same inputs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from helmguard.cli.duration import parse_duration

CASES = [
    "300s",
    "5m",
    "1h2m",
    "1h2m3s",
    "1.5h",
    ".5s",
    "5.s",
    "1h0.25m",
    "250ms",
    "1500us",
    "1500µs",
    "42ns",
    "+5m",
    "0",
    "-0",
    "2h45m30.5s",
    "0.000001s",
    "5",  # helmguard: plain seconds
    "12.5",
    "",
    "m",
    "5x",
    "1h5",
    "h1",
    "5 m",
    ".s",
    "-5m",
    "9999999999h",
]

_GO_PROGRAM = """package main

import (
	"bufio"
	"fmt"
	"os"
	"time"
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		d, err := time.ParseDuration(in.Text())
		if err != nil {
			fmt.Println("error")
		} else {
			fmt.Println(d.Nanoseconds())
		}
	}
}
"""


def _go() -> str | None:
    return shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )


def _ours(text: str) -> str:
    try:
        return str(round(parse_duration(text) * 1e9))
    except ValueError:
        return "error"


def test_durations_parse_like_go(tmp_path: Path) -> None:
    go = _go()
    if go is None:
        pytest.skip("no Go toolchain for the differential test")
    (tmp_path / "main.go").write_text(_GO_PROGRAM)
    (tmp_path / "go.mod").write_text("module durations\n\ngo 1.22\n")
    done = subprocess.run(
        [go, "run", "."],
        cwd=tmp_path,
        input="\n".join(CASES) + "\n",
        capture_output=True,
        text=True,
        check=True,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "GOFLAGS": "-mod=mod",
            "GOCACHE": str(Path.home() / ".cache" / "go-build"),
            "GOTOOLCHAIN": "local",
        },
        timeout=300,
    )
    expected = done.stdout.split()
    for text, want in zip(CASES, expected, strict=True):
        if text in ("5", "12.5"):
            continue  # Go requires a unit; helmguard also takes plain seconds
        if text == "-5m":
            assert want != "error" and _ours(text) == "error"  # negative budgets refused
            continue
        assert _ours(text) == want, text


def test_plain_seconds_and_errors() -> None:
    assert parse_duration("5") == 5.0 and parse_duration("12.5") == 12.5
    assert parse_duration("1h2m") == 3720.0
    with pytest.raises(ValueError, match="missing unit"):
        parse_duration("1h5")
    with pytest.raises(ValueError, match="unknown unit 'x'"):
        parse_duration("5x")
    with pytest.raises(ValueError, match="negative"):
        parse_duration("-5m")
