"""What one file gives the load graph to replay (``FileReport.steps``): the rule pass's loads, cds
and quits among the symbol pass's facts, in file order, each run of definitions merged.

The load graph replays these steps in order to know, at each top-level use, what is defined yet;
the on-disk cache stores them. A run merged across a load, or a use, would hide a 'name error.
"""

from __future__ import annotations

from kx_jupyter.qcheck.source import analyze


def test_a_module_of_definitions_replays_in_two_steps():
    text = "\\d .m\ncfg:`a`b!1 2\nf:{x}\ng:{[t;w]\n  t+w\n  }\nh:3\n"
    assert analyze(text, "m.q").steps == [
        ("defs", [".m.a", ".m.b", ".m.cfg", ".m.f", ".m.g", ".m.h"], 2, 1, ".m"),
        ("fn", [[".m.f", 3, 3, 3, 5], [".m.g", 4, 3, 6, 3]], 2, 1, ".m"),
    ]


def test_a_load_between_definitions_replays_between_them():
    text = "a:1\nf:{x+1}\n\\l lib.q\nb:2\n"
    assert analyze(text, "init.q").steps == [
        ("defs", ["a", "f"], 1, 1, ""),
        ("fn", [["f", 2, 3, 2, 7]], 1, 1, ""),
        ("load", "lib.q", 3, 1, True),
        ("defs", ["b"], 4, 1, ""),
    ]


def test_a_use_ends_a_run_of_definitions():
    assert analyze("a:1\nb c\nd:2\n", "x.q").steps == [
        ("defs", ["a"], 1, 1, ""),
        ("use", "b", 2, 1, ""),
        ("use", "c", 2, 3, ""),
        ("defs", ["d"], 3, 1, ""),
    ]


def test_a_k_file_uses_no_q_names_so_nothing_ends_its_run():
    assert analyze("a:1\nb c\nd:2\n", "x.k").steps == [("defs", ["a", "d"], 1, 1, "")]


def test_loads_inside_an_expression_keep_their_place_among_its_facts():
    text = 'x:1\nif[c;system "l a.q"]; u v\nw:2\n'
    assert analyze(text, "init.q").steps == [
        ("defs", ["x"], 1, 1, ""),
        ("call", "c", 2, 4, ""),
        ("load", "a.q", 2, 13, True),
        ("use", "u", 2, 23, ""),
        ("use", "v", 2, 25, ""),
        ("defs", ["w"], 3, 1, ""),
    ]
