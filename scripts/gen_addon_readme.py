#!/usr/bin/env python3
"""Generate each addon's README.rst from its readme/*.md fragments, in oca-gen-addon-readme's layout.

    .venv/bin/python scripts/gen_addon_readme.py           # (re)write <addon>/README.rst
    .venv/bin/python scripts/gen_addon_readme.py --check   # exit 1 naming every stale README.rst

Why not oca-gen-addon-readme itself: it is not published on PyPI (OCA installs it from its maintainer-tools
repository) and it converts Markdown with pandoc, a binary neither the venv nor CI has. The fragments use a
small Markdown subset (paragraphs, `-` lists, pipe tables, fenced and indented code, inline code, bold,
links), converted here; tests/packaging/test_addon_readmes.py parses every result with docutils, so a
construct this converter gets wrong fails there instead of shipping broken reStructuredText. The
README.rst is what whool (through manifestoo-core) puts in the wheel's long description.
"""
from __future__ import annotations

import argparse
import ast
import re
import sys
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (fragment, section title) in oca-gen-addon-readme's order; DESCRIPTION has no title of its own.
FRAGMENTS = (
    ("DESCRIPTION", None),
    ("CONTEXT", "Use Cases / Context"),
    ("INSTALL", "Installation"),
    ("CONFIGURE", "Configuration"),
    ("USAGE", "Usage"),
    ("ROADMAP", "Known issues / Roadmap"),
    ("DEVELOP", "Development"),
    ("HISTORY", "Changelog"),
)
SUB_SECTION_CHARS = "~^\"'"  # a fragment's own Markdown headings, shallowest first
HEADER = """\
.. !! This file is generated from readme/*.md by scripts/gen_addon_readme.py (oca-gen-addon-readme's layout).
.. !! Do not edit it: change the fragments, then run `make readme`; a test fails while it is stale.
"""
LICENSE_BADGES = {
    "LGPL-3": ("https://img.shields.io/badge/licence-LGPL--3-blue.png",
               "http://www.gnu.org/licenses/lgpl-3.0-standalone.html", "License: LGPL-3"),
}

_CODE_OR_LINK = re.compile(r"(?P<code>`+)(?P<text>.+?)(?P=code)|\[(?P<label>[^\]]+)\]\((?P<url>[^)\s]+)\)")
_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$")
_ITEM = re.compile(r"^(?P<indent> *)(?P<mark>[-*+]|\d+[.)]) +(?P<text>.*)$")
_HEADING = re.compile(r"^(?P<level>#{1,6}) +(?P<text>.+?)#*$")
_FENCE = re.compile(r"^(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)\s*$")
_HTML_COMMENT = re.compile(r"<!--.*-->")


# ---------------------------------------------------------------------------------------------- inline
def _fits_before(text: str, index: int) -> bool:
    """Whether an inline markup start-string may follow text[:index] (docutils' inline markup rules)."""
    if index == 0:
        return True
    char = text[index - 1]
    return char.isspace() or unicodedata.category(char) in ("Pd", "Po", "Ps", "Pi", "Pf")


def _fits_after(text: str, index: int) -> bool:
    """Whether an inline markup end-string may precede text[index:]."""
    if index >= len(text):
        return True
    char = text[index]
    return char.isspace() or unicodedata.category(char) in ("Pd", "Po", "Pe", "Pi", "Pf")


def _escape(text: str) -> str:
    """Plain Markdown text as reStructuredText: characters docutils would read as markup are escaped.

    `**bold**` and `*emphasis*` mean the same in both and stay; a `_` ending a word would make a
    reference, a `|` a substitution.
    """
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    return re.sub(r"(?<=\w)_(?=\W|$)", r"\\_", text)


def inline(text: str) -> str:
    """One line of Markdown inline markup as reStructuredText."""
    out: list[str] = []
    position = 0
    for match in _CODE_OR_LINK.finditer(text):
        out.append(_escape(text[position:match.start()]))
        if match["code"]:
            markup = f"``{match['text'].strip()}``"
        else:
            markup = f"`{match['label']} <{match['url']}>`__"
        prefix = "" if _fits_before(text, match.start()) else "\\ "
        suffix = "" if _fits_after(text, match.end()) else "\\ "
        out.append(prefix + markup + suffix)
        position = match.end()
    out.append(_escape(text[position:]))
    return "".join(out)


# ---------------------------------------------------------------------------------------------- blocks
def _table(rows: list[str]) -> list[str]:
    cells = [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in rows]
    header, body = cells[0], [row for row in cells[1:] if not _TABLE_RULE.match("|".join(row))]
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header, *body]:
        for number, cell in enumerate(row):
            lines.append(f"   {'* -' if number == 0 else '  -'} {inline(cell)}".rstrip())
    return [*lines, ""]


def markdown_to_rst(markdown: str) -> str:
    """The Markdown subset of our readme fragments as reStructuredText (see the module docstring)."""
    lines = markdown.splitlines()
    levels = sorted({len(m["level"]) for line in lines if (m := _HEADING.match(line))})
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = _FENCE.match(line)
        if fence:
            end = index + 1
            while end < len(lines) and not lines[end].startswith(fence["fence"]):
                end += 1
            out += [f".. code-block:: {fence['lang']}" if fence["lang"] else "::", ""]
            out += [f"    {code}".rstrip() for code in lines[index + 1:end]]
            out.append("")
            index = end + 1
        elif heading := _HEADING.match(line):
            title = inline(heading["text"].strip())
            out += [title, SUB_SECTION_CHARS[levels.index(len(heading["level"]))] * len(title), ""]
            index += 1
        elif line.lstrip().startswith("|"):
            end = index
            while end < len(lines) and lines[end].lstrip().startswith("|"):
                end += 1
            out += _table(lines[index:end])
            index = end
        elif not line.strip() or _HTML_COMMENT.fullmatch(line.strip()):
            # a one-line HTML comment is invisible in Markdown (the generated-table markers): so in RST
            index += 1
        elif line.startswith("    "):  # an indented code block
            end = index
            while end < len(lines) and (lines[end].startswith("    ") or not lines[end].strip()):
                end += 1
            out += ["::", "", *(code.rstrip() for code in lines[index:end]), ""]
            index = end
        else:
            index = _paragraph_or_item(lines, index, out)
    return "\n".join(out).rstrip() + "\n"


def _paragraph_or_item(lines: list[str], index: int, out: list[str]) -> int:
    """Append the paragraph or list item starting at lines[index]; return the index after it."""
    item = _ITEM.match(lines[index])
    first = item["text"] if item else lines[index].strip()
    mark = ("- " if item["mark"] in "-*+" else "#. ") if item else ""
    body = [first]
    index += 1
    while index < len(lines):
        line = lines[index]
        if (not line.strip() or _ITEM.match(line) or _FENCE.match(line) or _HEADING.match(line)
                or line.lstrip().startswith("|")):
            break
        body.append(line.strip())
        index += 1
    indent = " " * len(mark)
    out += [(mark if number == 0 else indent) + inline(text) for number, text in enumerate(body)]
    if not (item and index < len(lines) and _ITEM.match(lines[index])):
        out.append("")  # a list's items stay together; anything else ends with a blank line
    return index


# ---------------------------------------------------------------------------------------------- README
def _title(text: str, char: str, overline: bool = False) -> list[str]:
    rule = char * len(text)
    return [rule, text, rule, ""] if overline else [text, rule, ""]


def render(addon: Path) -> str:
    """The README.rst of one addon directory."""
    manifest = ast.literal_eval((addon / "__manifest__.py").read_text(encoding="utf-8"))
    readme = addon / "readme"
    lines = [HEADER.rstrip(), "", *_title(manifest["name"], "=", overline=True)]
    badge = LICENSE_BADGES.get(manifest.get("license", ""))
    if badge:
        image, target, alt = badge
        lines += ["|badge1|", "", f".. |badge1| image:: {image}", f"    :target: {target}",
                  f"    :alt: {alt}", ""]
    sections = []
    for fragment, title in FRAGMENTS:
        path = readme / f"{fragment}.md"
        if not path.is_file():
            continue
        text = markdown_to_rst(path.read_text(encoding="utf-8")).rstrip().splitlines()
        if title is None:
            lines += [*text, ""]
            lines += ["**Table of contents**", "", ".. contents::", "   :local:", ""]
        else:
            sections += [*_title(title, "="), *text, ""]
    lines += sections
    website = manifest.get("website", "")
    lines += _title("Bug Tracker", "=")
    lines += [f"Bugs are tracked on `GitHub Issues <{website}/issues>`__. Please check there whether your "
              "issue has already been reported.", ""]
    lines += _title("Credits", "=")
    lines += _title("Authors", "~")
    lines += [f"* {inline(author.strip())}" for author in manifest.get("author", "").split(",")] + [""]
    contributors = readme / "CONTRIBUTORS.md"
    if contributors.is_file():
        lines += _title("Contributors", "~")
        lines += [*markdown_to_rst(contributors.read_text(encoding="utf-8")).rstrip().splitlines(), ""]
    lines += _title("Maintainers", "~")
    lines += [f"This module is part of the `{website.rstrip('/').rsplit('/', 1)[-1]} "
              f"<{website}/tree/main/{addon.name}>`__ project on GitHub.", ""]
    return "\n".join(lines).rstrip() + "\n"


def addon_dirs() -> list[Path]:
    """Every addon of the repository that has readme fragments."""
    return sorted(path for path in ROOT.iterdir()
                  if (path / "__manifest__.py").is_file() and (path / "readme").is_dir())


def stale(addons: list[Path]) -> list[Path]:
    """The README.rst files that differ from what the fragments generate (missing ones included)."""
    return [addon / "README.rst" for addon in addons
            if not (addon / "README.rst").is_file()
            or (addon / "README.rst").read_text(encoding="utf-8") != render(addon)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when one is stale")
    args = parser.parse_args(argv)
    addons = addon_dirs()
    if args.check:
        outdated = stale(addons)
        for path in outdated:
            print(f"gen_addon_readme: {path.relative_to(ROOT)} is stale: run `make readme`", file=sys.stderr)
        return 1 if outdated else 0
    for addon in addons:
        (addon / "README.rst").write_text(render(addon), encoding="utf-8")
    print(f"gen_addon_readme: {len(addons)} README.rst written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
