"""`list`, `history` and `get` print what helm prints, byte for byte: `-o json` (Go's
encoding/json: map keys sorted, structs in helm's field order) and YAML (sigs.k8s.io/yaml
over go-yaml v2's emitter), against the helm binary on twin releases of a values corpus."""

from __future__ import annotations

from difflib import unified_diff
from pathlib import Path

import pytest
from click.testing import CliRunner

from helmcli import Helm
from helmguard.cli import main
from helmguard.sandbox.cluster import Sandbox

CHART = str(Path(__file__).parent / "charts" / "interop")
LONG = "a sentence that goes on " * 6  # folded past column 80 as plain text
# Values files for two revisions; every case below is YAML a user can write.
CORPUS = {
    "first.yaml": f"""\
image:
  repository: registry.example/team/app
  tag: "1.0"
replicaCount: 2
greeting: hello
nested: {{a: {{b: {{c: [1, 2, {{d: e}}], z: last}}}}}}
listOfMaps:
  - name: one
    port: 80
  - name: two
    env: [{{name: A, value: x}}, {{name: B, value: "2"}}]
    args: [[nested, list], []]
multiline: |
  first line
  second line
noFinalNewline: "a\\nb"
keepTrailing: "x\\n\\n"
indentedLiteral: "  indented\\nnext"
literalTrailingSpace: "line \\nnext"
long: "{LONG}"
longNoSpace: "{"x" * 120}"
longQuoted: "yes {LONG}"
longSingle: "'{LONG}"
longDoubleSpaces: "\\t{"ab  " * 30}"
unicode: "héllo wörld ✓ 日本語"
emoji: "launch 🚀"
numbers:
  int: 42
  negative: -7
  float: 1.5
  million: 1e6
  millionAndAHalf: 1000000.5
  micro: 0.000001
  tinier: 1e-7
  huge: 1e21
  large: 12345678901234567890
  zero: 0
  avogadro: 6.02e23
  octal: 0o17
  hexInt: 0x1F
bools: {{t: true, f: false, "yes": yes, off: off}}
strings:
  yesString: "yes"
  trueString: "true"
  nullString: "null"
  numberString: "1.0"
  expString: "1e3"
  date: "2001-12-14"
  sexagesimal: "1:20"
  octal: "0o17"
  colonSpace: "a: b"
  hashAfterSpace: "a #b"
  leadingDash: "- x"
  dashWord: "-x"
  star: "*ref"
  amp: "&a"
  quoteSingle: "it's"
  quoteDouble: 'say "hi"'
  startsSingle: "'q'"
  tab: "a\\tb"
  html: "<a href='x'>&amp;</a>"
  trailingSpace: "x "
  leadingSpace: " x"
  empty: ""
  tilde: "~"
  dots: "..."
  control: "bell\\a"
nulls: {{n: null, tilde: ~}}
empty: {{map: {{}}, list: []}}
"key with space": 1
"key: colon": 2
"#hash": 3
"10": ten
"9": nine
a10: x
a2: y
a02: z
B: upper
_under: u
"": emptyKey
"{"k" * 130}": longKey
""",
    "second.yaml": """\
image: {tag: "2.0"}
added: [x, {y: [z]}]
""",
}


def _cli(sandbox: Sandbox, *args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--kubeconfig", str(sandbox.kubeconfig)])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, (args, result.stderr)
    return result.stdout


@pytest.fixture
def twins(
    sandbox: Sandbox, helm: Helm, namespace: str, twin_namespace: str, tmp_path: Path
) -> tuple[str, str]:
    """The corpus installed and upgraded (`--set`, -f) by helm in `twin_namespace` and by
    helmguard in `namespace`, the same words for both."""
    for name, text in CORPUS.items():
        (tmp_path / name).write_text(text)
    first = ("-f", str(tmp_path / "first.yaml"), "--set", "image.tag=1.2")
    second = ("-f", str(tmp_path / "first.yaml"), "-f", str(tmp_path / "second.yaml"))
    db = ("--db", str(tmp_path / "hg.db"), "--timeout", "60s")
    for args in (first, second):
        line = ("upgrade", "--install", "web", CHART, *args)
        helm.run(*line, "-n", twin_namespace)
        _cli(sandbox, *line, "-n", namespace, *db)
    return (namespace, twin_namespace)


COMMANDS = [
    ("get", "values", "web"),
    ("get", "values", "web", "-o", "json"),
    ("get", "values", "web", "-o", "yaml"),
    ("get", "values", "web", "--revision", "1"),
    ("get", "values", "web", "--revision", "1", "-o", "json"),
    ("get", "values", "web", "--all"),
    ("get", "values", "web", "--all", "-o", "json"),
    ("get", "values", "web", "--all", "-o", "yaml"),
    ("get", "metadata", "web", "-o", "json"),
    ("get", "metadata", "web", "-o", "yaml"),
    ("get", "all", "web"),
    ("get", "all", "web", "--revision", "1"),
    ("history", "web"),
    ("history", "web", "-o", "json"),
    ("history", "web", "-o", "yaml"),
    ("list",),
    ("list", "-o", "json"),
    ("list", "-o", "yaml"),
    ("list", "-q", "-o", "json"),
    ("list", "-q", "-o", "yaml"),
]


def test_outputs_are_helms_byte_for_byte(
    sandbox: Sandbox, helm: Helm, twins: tuple[str, str]
) -> None:
    """Each command on each twin (helm's release and helmguard's), helm's stdout against
    helmguard's: identical bytes."""
    differ = []
    for ns in twins:
        for args in COMMANDS:
            theirs = helm.run(*args, "-n", ns).stdout
            ours = _cli(sandbox, *args, "-n", ns)
            if ours != theirs:
                differ.append((ns, args, theirs, ours))
    assert not differ, "\n".join(
        f"{ns} {args}:\n" + "".join(unified_diff(t.splitlines(True), o.splitlines(True)))
        for ns, args, t, o in differ
    )
    # The corpus reached the records, and its long lines were folded.
    values = helm.run("get", "values", "web", "-n", twins[0]).stdout
    assert 'tag: "2.0"' in values and "a sentence" in values
    assert sum("sentence" in line for line in values.splitlines()) > 3


def _run(sandbox: Sandbox, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [*args, "--kubeconfig", str(sandbox.kubeconfig)])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_global_flags_helm_scripts_pass(sandbox: Sandbox, helm: Helm, namespace: str) -> None:
    """--color/--colour never|auto print what helm prints (no color off a terminal); always
    is refused (helmguard has no color), a bad mode with helm's message. The flags naming
    what helmguard has no counterpart for (a client request rate, helm's repository and
    registry files, its content cache) stay refused, naming the flag."""
    helm.run("install", "web", CHART, "-n", namespace)
    for args in (("list",), ("history", "web"), ("get", "values", "web", "--all")):
        for color in (("--color", "never"), ("--colour", "auto"), ("--color=auto",)):
            line = (*args, "-n", namespace, *color)
            assert _cli(sandbox, *line) == helm.run(*line).stdout, line
    always = helm.run("list", "-n", namespace, "--color", "always").stdout
    assert "\x1b[" in always  # helm colors; helmguard would not, so it refuses
    code, out, err = _run(sandbox, "list", "-n", namespace, "--color", "always")
    assert (code, out) == (2, "") and "--color always: helmguard prints no color" in err
    theirs = helm.run("list", "-n", namespace, "--color", "bogus", check=False)
    code, _, err = _run(sandbox, "list", "-n", namespace, "--colour", "bogus")
    message = 'invalid color mode "bogus": must be one of: never, auto, always'
    assert theirs.returncode == 1 and message.replace('"', '\\"') in theirs.stderr  # slog's
    assert code == 2 and message in err
    for flag in (
        "--qps=5",
        "--burst-limit=10",
        "--repository-config=r.yaml",
        "--repository-cache=c",
        "--registry-config=x.json",
        "--content-cache=c",
    ):
        assert helm.run("list", "-n", namespace, flag).returncode == 0, flag
        code, out, err = _run(sandbox, "list", "-n", namespace, flag)
        assert code == 2 and out == "" and flag.split("=")[0] in err, (flag, err)


def test_get_metadata_annotations_and_dependencies_as_helms(
    sandbox: Sandbox, helm: Helm, namespace: str, twin_namespace: str, tmp_path: Path
) -> None:
    """A chart with annotations and an aliased, tagged, conditional dependency, installed
    without values: get metadata (table, json, yaml), get values (none: null), get values
    --all and get all, helm's bytes on both twins;
    helm's twin has run its test hook (get all's TEST SUITE), helmguard's has not."""
    chart = str(Path(__file__).parent / "charts" / "described")
    helm.run("install", "desc", chart, "-n", twin_namespace)
    helm.run("test", "desc", "-n", twin_namespace)
    _cli(sandbox, "install", "desc", chart, "-n", namespace, "--db", str(tmp_path / "hg.db"))
    for ns in (namespace, twin_namespace):
        for args in (
            ("get", "metadata", "desc"),
            ("get", "metadata", "desc", "-o", "json"),
            ("get", "metadata", "desc", "-o", "yaml"),
            ("get", "values", "desc"),  # none user-supplied: null
            ("get", "values", "desc", "-o", "json"),
            ("get", "values", "desc", "-o", "yaml"),
            ("get", "values", "desc", "--all", "-o", "json"),
            ("get", "all", "desc"),
        ):
            line = (*args, "-n", ns)
            assert _cli(sandbox, *line) == helm.run(*line).stdout, line
    assert (
        '"alias":"helper"'
        in helm.run("get", "metadata", "desc", "-n", namespace, "-o", "json").stdout
    )


def test_no_values_at_all_as_helms(
    sandbox: Sandbox, helm: Helm, namespace: str, twin_namespace: str, tmp_path: Path
) -> None:
    """A chart without values installed without any: user-supplied values are null, the
    computed ones an empty map, as helm prints them, on both twins."""
    chart = str(Path(__file__).parent / "charts" / "depchild")
    helm.run("install", "bare", chart, "-n", twin_namespace)
    _cli(sandbox, "install", "bare", chart, "-n", namespace, "--db", str(tmp_path / "hg.db"))
    for ns in (namespace, twin_namespace):
        for args in (
            *(("get", "values", "bare", "-o", fmt) for fmt in ("table", "json", "yaml")),
            *(("get", "values", "bare", "--all", "-o", fmt) for fmt in ("table", "json", "yaml")),
            ("get", "all", "bare"),
        ):
            line = (*args, "-n", ns)
            assert _cli(sandbox, *line) == helm.run(*line).stdout, line
    assert helm.run("get", "values", "bare", "--all", "-n", namespace).stdout.endswith(":\n{}\n")
