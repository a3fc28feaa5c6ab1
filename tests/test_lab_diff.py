"""The diff every surface shows (sidebar, form, ``%kx_diff``, the CLI): exact unified text, as git prints it."""

from __future__ import annotations

import pytest

from kx_jupyter.deploy.diff import compare
from kx_jupyter.ui.diffview import render_diff


def _diffs(deployed: dict[str, bytes], workspace: dict[str, bytes]) -> dict[str, tuple[str, str]]:
    return {d.path: (d.status, d.diff) for d in compare(deployed, workspace)}


def test_an_added_file_shows_its_whole_content():
    assert _diffs({}, {"lib/new.q": b"f:{x+1}\ng:{x*2}\n"}) == {
        "lib/new.q": (
            "added",
            "--- /dev/null\n+++ workspace/lib/new.q\n@@ -0,0 +1,2 @@\n+f:{x+1}\n+g:{x*2}\n",
        )
    }


def test_a_removed_file_shows_what_the_cluster_loses():
    assert _diffs({"old.q": b"x:1\n"}, {}) == {
        "old.q": ("removed", "--- cluster/old.q\n+++ /dev/null\n@@ -1 +0,0 @@\n-x:1\n")
    }


@pytest.mark.parametrize(
    "deployed,workspace,expected",
    [
        (  # the old file lacks its final newline: difflib alone prints "-y:2+y:3" on one line
            b"x:1\ny:2",
            b"x:1\ny:3\n",
            "--- cluster/a.q\n+++ workspace/a.q\n@@ -1,2 +1,2 @@\n x:1\n-y:2\n\\ No newline at end of file\n+y:3\n",
        ),
        (  # the new one lacks it
            b"x:1\n",
            b"x:1",
            "--- cluster/a.q\n+++ workspace/a.q\n@@ -1 +1 @@\n-x:1\n+x:1\n\\ No newline at end of file\n",
        ),
        (  # neither has it, and the last lines differ
            b"a\nb",
            b"a\nc",
            "--- cluster/a.q\n+++ workspace/a.q\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n"
            "+c\n\\ No newline at end of file\n",
        ),
    ],
)
def test_a_missing_final_newline_is_marked_as_diff_and_git_mark_it(deployed, workspace, expected):
    assert _diffs({"a.q": deployed}, {"a.q": workspace}) == {"a.q": ("modified", expected)}


def test_an_added_file_without_a_final_newline_is_marked():
    (status, diff) = _diffs({}, {"n.q": b"n:1"})["n.q"]
    assert diff == "--- /dev/null\n+++ workspace/n.q\n@@ -0,0 +1 @@\n+n:1\n\\ No newline at end of file\n"


def test_binary_and_empty_files_are_listed_without_a_diff():
    assert _diffs({"gone.bin": b"\x00\x01"}, {"new.bin": b"\x00\x02", "empty.q": b""}) == {
        "empty.q": ("added", ""),
        "gone.bin": ("removed", ""),
        "new.bin": ("added", ""),
    }
    assert {d.path: d.binary for d in compare({"gone.bin": b"\x00"}, {"empty.q": b""})} == {
        "empty.q": False,
        "gone.bin": True,
    }


def test_the_rendered_diff_shows_added_content_and_the_newline_mark_apart_from_the_code():
    shown = render_diff("dev-gp", compare({"a.q": b"y:2"}, {"a.q": b"y:3\n", "new.q": b"n:1\n"}))
    assert "A new.q" in shown.text and "+n:1" in shown.text
    assert "-y:2\n\\ No newline at end of file\n+y:3" in shown.text
    # in HTML the mark is one muted line of its own, not q code on the removed line
    assert ">\\ No newline at end of file</span></div>" in shown.html
