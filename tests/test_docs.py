"""The documentation stays true: docs/ builds with mkdocs in strict mode (every link and anchor between pages
resolves), every repository path the README and the pages cite exists, the docs name every option of the
commands the CLI reference documents, the README stays short, and no code comment points at a file outside the
repository."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TOP_FOLDERS = ("edgeaudio/", "exporters/", "benchmarks/", "tests/", "docs/", ".ci/")
TOP_FILES = ("README.md", "Makefile", "pyproject.toml", "mkdocs.yml")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def cited_paths(markdown: str) -> set[str]:
    """Repository paths named in inline code (`tests/test_yamnet.py`, `python benchmarks/calibration.py`),
    outside fenced blocks, which show command lines and outputs with the user's own paths."""
    paths = set()
    for span in INLINE_CODE.findall(FENCE.sub("", markdown)):
        for token in span.split():
            token = token.split("::")[0].rstrip(".,;:)")
            if token.startswith(TOP_FOLDERS) or token in TOP_FILES:
                paths.add(token)
    return paths


def test_cited_paths_are_found_in_inline_code_only():
    text = "Run `python benchmarks/calibration.py` (`tests/test_x.py::test_y`), `Makefile`.\n```\nedgeaudio/nope.py\n```\n"
    assert cited_paths(text) == {"benchmarks/calibration.py", "tests/test_x.py", "Makefile"}


def test_the_docs_build_with_mkdocs_in_strict_mode(tmp_path):
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "site" / "cli" / "index.html").exists()


def test_every_repository_path_the_readme_and_the_docs_cite_exists():
    cited = {page.relative_to(ROOT).as_posix(): cited_paths(page.read_text()) for page in _pages()}
    missing = {page: sorted(p for p in paths if not (ROOT / p).exists()) for page, paths in cited.items()}
    assert {page: paths for page, paths in missing.items() if paths} == {}
    assert sum(len(paths) for paths in cited.values()) >= 30  # the scan sees the citations it is there to check


def test_the_readme_is_short_and_its_links_lead_somewhere():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 160
    assert "make demo" in text and "make test" in text
    links = [link.split("#")[0] for link in LINK.findall(text) if "://" not in link]
    assert links and all(link.startswith("docs/") for link in links), links
    assert [link for link in links if not (ROOT / link).exists()] == []


def _cli_sections() -> dict[str, str]:
    """docs/cli.md's text under each '## `edgeaudio NAME`' heading, by command name."""
    parts = re.split(r"^## `edgeaudio (\S+)`$", (DOCS / "cli.md").read_text(), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def _named(option: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


def test_the_docs_name_every_option_of_every_command_the_cli_reference_documents():
    """Each option is in docs/cli.md's table or, for an option a topic page explains (`bench` on devices, say),
    on that page."""
    import click

    from edgeaudio.cli import cli

    sections = _cli_sections()
    assert set(sections) <= set(cli.commands) and len(sections) >= 8
    text = "\n".join(page.read_text() for page in sorted(DOCS.rglob("*.md")))
    unnamed = {}
    for name in sections:
        options = [p for p in cli.commands[name].params if isinstance(p, click.Option) and p.name != "help"]
        unnamed[name] = [p.opts[-1] for p in options
                         if not any(_named(opt, text) for opt in p.opts if opt.startswith("--") or len(p.opts) == 1)]
    assert {name: opts for name, opts in unnamed.items() if opts} == {}, "no page of docs/ names these options"


def test_every_command_is_named_somewhere_in_the_docs():
    from edgeaudio.cli import cli

    text = "\n".join(page.read_text() for page in DOCS.rglob("*.md"))
    assert [name for name in cli.commands if f"edgeaudio {name}" not in text] == []


def _code_files() -> list[Path]:
    files = [ROOT / name for name in ("Makefile", "pyproject.toml", ".ci/run")]
    for folder in ("edgeaudio", "exporters", "benchmarks", "tests"):
        files += sorted((ROOT / folder).rglob("*.py"))
    return [f for f in files if f.exists()]


def test_no_code_comment_cites_a_markdown_file_outside_the_repository():
    """A comment may point at a page or a results file of this repository (`docs/models.md`, `calibration.md`
    beside its benchmark), never at notes kept elsewhere."""
    names = {"README.md"} | {p.name for folder in ("docs", "benchmarks") for p in (ROOT / folder).rglob("*.md")}
    outside = []
    for path in _code_files():
        for token in re.findall(r"[\w./-]+\.md\b", path.read_text()):
            inside = not token.startswith("../") and ((ROOT / token).exists() if "/" in token else token in names)
            if not inside:
                outside.append(f"{path.relative_to(ROOT)}: {token}")
    assert outside == []
