"""scripts/gen_addon_readme.py: every addon's README.rst is generated from readme/*.md and valid.

A README.rst edited by hand, or fragments changed without `make readme`, fail here; so does a fragment whose
Markdown the converter turns into reStructuredText that docutils (hence PyPI's long description) rejects.
"""
from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest
from docutils.core import publish_doctree
from docutils.utils import SystemMessage

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("gen_addon_readme", ROOT / "scripts" / "gen_addon_readme.py")
gen = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = gen
_spec.loader.exec_module(gen)

ADDONS = gen.addon_dirs()


def parse(rst: str):
    """The docutils tree of `rst`; any warning (level 2) or worse raises SystemMessage."""
    return publish_doctree(rst, settings_overrides={"halt_level": 2, "report_level": 2,
                                                    "warning_stream": False})


def test_every_addon_has_fragments_and_a_history():
    names = {addon.name for addon in ADDONS}
    assert {"attachment_s3", "base_attachment_object_storage", "cloud_platform", "session_redis"} <= names
    for addon in ADDONS:
        assert (addon / "readme" / "DESCRIPTION.md").is_file(), addon.name
        assert "## 1.0.0" in (addon / "readme" / "HISTORY.md").read_text(), addon.name


def test_no_readme_is_stale():
    assert gen.stale(ADDONS) == [], "run `make readme`"
    assert gen.main(["--check"]) == 0


@pytest.mark.parametrize("addon", ADDONS, ids=lambda path: path.name)
def test_the_readme_is_valid_restructuredtext_with_every_fragment(addon):
    text = (addon / "README.rst").read_text()
    tree = parse(text)
    titles = [node.astext() for node in tree.findall() if node.tagname == "title"]
    assert "Changelog" in titles and "Bug Tracker" in titles
    if (addon / "readme" / "CONFIGURE.md").is_file():
        assert "Configuration" in titles
    assert tree.astext().count("``") == 0  # every inline literal was recognised as one


def test_a_changed_fragment_makes_the_readme_stale(tmp_path):
    addon = tmp_path / "attachment_s3"
    shutil.copytree(ROOT / "attachment_s3", addon, ignore=shutil.ignore_patterns("__pycache__"))
    assert gen.stale([addon]) == []
    fragment = addon / "readme" / "USAGE.md"
    fragment.write_text("Run `x` by hand.\n")
    assert gen.stale([addon]) == [addon / "README.rst"]
    (addon / "README.rst").write_text(gen.render(addon))
    assert gen.stale([addon]) == []
    assert "Usage\n=====\n\nRun ``x`` by hand." in (addon / "README.rst").read_text()


def test_inline_markup_that_touches_words_is_escaped_so_docutils_reads_it():
    rst = gen.inline("the `ir.attachment`s of `a`/`b`, a word_ and a | bar, see [docs](https://x.test/a)")
    assert rst == ("the ``ir.attachment``\\ s of ``a``/``b``, a word\\_ and a \\| bar, "
                   "see `docs <https://x.test/a>`__")
    text = parse(rst).astext()
    assert text == "the ir.attachments of a/b, a word_ and a | bar, see docs"


def test_blocks_lists_tables_code_and_headings():
    markdown = ("# Title\n\nA paragraph\nover two lines.\n\n- item one\n  continued\n- item two\n\n"
                "| A | B |\n|---|---|\n| `x` | 1 |\n\n```shell\nodoo-cloud check\n```\n\n"
                "## Sub\n\ntext\n\n    indented code\n")
    rst = gen.markdown_to_rst(markdown)
    assert rst.startswith("Title\n~~~~~\n\nA paragraph\nover two lines.\n\n"
                          "- item one\n  continued\n- item two\n")
    assert "   * - A\n     - B\n   * - ``x``\n     - 1\n" in rst
    assert ".. code-block:: shell\n\n    odoo-cloud check\n" in rst
    assert "Sub\n^^^\n" in rst and rst.endswith("::\n\n    indented code\n")
    tree = parse("Top\n===\n\n" + rst)
    assert [n.tagname for n in tree.findall() if n.tagname in ("table", "bullet_list", "literal_block")] \
        == ["bullet_list", "table", "literal_block", "literal_block"]


def test_an_html_comment_line_is_invisible_as_in_markdown():
    """The generated-table markers of gen_docs.py are HTML comments: no text in the RST."""
    markdown = "Before.\n\n<!-- BEGIN generated variables -->\n| A |\n|---|\n| 1 |\n<!-- END -->\n\nAfter.\n"
    rst = gen.markdown_to_rst(markdown)
    assert "<!--" not in rst and "   * - A\n   * - 1\n" in rst and rst.endswith("After.\n")


def test_a_construct_docutils_rejects_is_caught():
    with pytest.raises(SystemMessage):
        parse("``unterminated literal\n")
