"""The live status view, fed with hand-made engine events (no plane, no kernel)."""

import re
from html import escape
from html.parser import HTMLParser

import pytest

from kx_jupyter.deploy import Event
from kx_jupyter.ui.view import ROLLBACK_STEPS, WATCH_STEPS, StatusView, detect_mode


def _nodes(*codes):
    return [
        {
            "nodeId": f"node-{i}",
            "status": "PROVISIONING" if c == "restarting" else "RUNNING",
            "code": c,
            "availabilityZoneId": "use1-az1",
            "launchTime": f"2026-11-27T10:00:0{i}+00:00",
        }
        for i, c in enumerate(codes)
    ]


def _phase_states(html):
    return re.findall(r'data-phase-state="(\w+)"[^>]*>[^ ]+ ([a-z ]+)</span>', html)


class _Balanced(HTMLParser):
    VOID = {"br", "img", "hr", "meta", "input"}

    def __init__(self):
        super().__init__()
        self.stack = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}> in {self.stack}"
        self.stack.pop()


def _assert_balanced(html):
    p = _Balanced()
    p.feed(html)
    assert p.stack == []


def test_phases_nodes_and_headline_while_nodes_roll():
    view = StatusView("hdb-3", mode="html")
    for phase in ("bundle", "check", "stage", "update"):
        view.update(Event(phase, "RUNNING", [], 1.0, phase))
    view.update(
        Event("nodes", "UPDATING", _nodes("new code", "restarting", "old code"), 42.0, "", checked=40.0)
    )
    html = view.to_html()
    _assert_balanced(html)
    assert _phase_states(html) == [
        ("ok", "bundle"),
        ("ok", "check"),
        ("ok", "stage"),
        ("ok", "update"),
        ("current", "rolling nodes"),
        ("pending", "done"),
    ]
    assert "1/3 nodes on the new code" in html
    for said in ("new code", "restarting", "old code", "PROVISIONING", "node-1", "2026-11-27 10:00:02"):
        assert said in html
    assert "elapsed 42s" in html and "checked 2s ago" in html
    text = view.to_text()
    assert "▶ rolling nodes" in text and "1/3 nodes on the new code" in text and "restarting" in text


def test_checked_ago_ticks_between_reads_and_stops_at_the_end():
    view = StatusView("hdb-3", mode="html")
    view.update(Event("nodes", "UPDATING", _nodes("restarting"), 100.0, "", checked=100.0))
    assert "checked 0s ago" in view.to_html()
    view._clock_zero -= 4  # as if 4 s passed without a read
    view.tick()
    assert "checked 4s ago" in view.to_html() and "elapsed 1m 44s" in view.to_html()
    view.update(
        Event("done", "RUNNING", _nodes("new code"), 131.0, "the cluster runs the pushed code", checked=131.0)
    )
    view._clock_zero -= 600
    view.tick()
    assert (
        "elapsed 2m 11s" in view.to_html() and "checked" not in view.to_html()
    )  # a finished push keeps its duration


def test_a_rollback_or_a_re_attached_watch_shows_only_its_own_steps():
    rollback = StatusView("dev-gp", mode="html", steps=ROLLBACK_STEPS)
    assert _phase_states(rollback.to_html())[0] == ("current", "stage")  # nothing checked or bundled
    for phase in ("stage", "update", "nodes"):
        rollback.update(Event(phase, "", [], 1.0, phase))
    assert _phase_states(rollback.to_html()) == [
        ("ok", "stage"),
        ("ok", "update"),
        ("current", "rolling nodes"),
        ("pending", "done"),
    ]
    watch = StatusView("hdb-3", mode="html", steps=WATCH_STEPS)
    watch.update(Event("failed", "RUNNING", [], 30.0, "the update failed", "init.q failed"))
    assert _phase_states(watch.to_html()) == [("failed", "rolling nodes"), ("pending", "done")]
    assert watch.to_text().splitlines()[1].split() == ["✗", "rolling", "nodes", "·", "done"]


def _pushed(view, outcome_event, result):
    for phase, at in (("bundle", 0.4), ("check", 0.9), ("stage", 1.5), ("update", 1.7)):
        view.update(Event(phase, "", [], at, phase))
    view.update(Event("nodes", "UPDATING", _nodes("restarting", "old code"), 5.0, ""))
    view.update(Event("nodes", "UPDATING", _nodes("new code", "restarting"), 9.0, ""))
    view.update(
        Event(
            outcome_event.phase,
            outcome_event.cluster_status,
            outcome_event.nodes,
            outcome_event.elapsed,
            outcome_event.message,
            outcome_event.reason,
            result=result,
        )
    )


def test_success_summary_and_a_timeline_of_phases_and_nodes():
    view = StatusView("dev-gp", mode="html")
    _pushed(
        view,
        Event("done", "RUNNING", _nodes("new code", "new code"), 75.0, "the cluster runs the pushed code"),
        {
            "status": "succeeded",
            "elapsed": 75.0,
            "bundle": {"sha256": "ab" * 32, "bytes": 2048, "files": ["init.q", "lib/a.q"]},
            "code": {"s3Bucket": "kx-local-code", "s3Key": "kx-jupyter/abab.zip", "s3ObjectVersion": "v-17"},
            "uploaded_bytes": 2048,
        },
    )
    html = view.to_html()
    _assert_balanced(html)
    assert all(state == "ok" for state, _ in _phase_states(html))
    for expected in (
        "deployed",
        "1m 15s",
        "ab" * 32,
        "2.0 KB, 2 files",
        "s3://kx-local-code/kx-jupyter/abab.zip",
        "v-17",
    ):
        assert expected in html and expected in view.to_text()
    bars = view.timeline()
    assert [row for row, *_ in bars][:5] == ["bundle", "check", "stage", "update", "rolling nodes"]
    assert bars[0][1:3] == (0.0, 0.4) and bars[3][1:3] == (
        1.5,
        1.7,
    )  # each phase timed from the command's start
    assert [(a, s) for row, a, _, s in bars if row == "node-0"] == [(5.0, "restarting"), (9.0, "new code")]
    assert 'class="kx-timeline"' in html and "timeline:" in view.to_text()


def test_failure_headlines_the_first_error_line_verbatim_with_the_failing_node_red():
    from kx_jupyter.ui.view import FAILED_ROW

    line = "/opt/kx/app/code/init.q:1:3: error Q002 '{' is never closed"
    view = StatusView("hdb-3", mode="html")
    _pushed(
        view,
        Event("failed", "RUNNING", _nodes("failed", "old code"), 30.0, line, "Code update failed on node-0"),
        {
            "status": "failed",
            "reason": "Code update failed on node-0",
            "status_reason": "Code update failed on node-0",
            "elapsed": 30.0,
            "first_error": {"node": "node-0", "line": line},
            "log_tail": ["node-0: starting node", f"node-0: {line}", "node-1: <script>"],
        },
    )
    html = view.to_html()
    _assert_balanced(html)
    assert ("failed", "rolling nodes") in _phase_states(html)
    error = html.index('class="kx-first-error"')
    assert escape(line, quote=True) in html[error : error + 600]  # verbatim, escaped, never raw markup
    assert html.index("the service says: Code update failed on node-0") > error
    row = html[html.index(f'<tr style="{FAILED_ROW}">') :]
    assert row.index("node-0") < row.index("</tr>")  # the failing node's row is the red one
    assert "&lt;script&gt;" in html and "<script>" not in html
    text = view.to_text()
    assert f"node-0: {line}" in text and "reason: Code update failed on node-0" in text


def test_a_failed_node_back_on_the_old_code_says_both_and_stays_red():
    from kx_jupyter.ui.view import FAILED_ROW

    view = StatusView("hdb-3", mode="html")
    _pushed(
        view,
        Event(
            "failed", "RUNNING", _nodes("old code", "failed, old code again"), 30.0, "'type", "update failed"
        ),
        {"status": "failed", "elapsed": 30.0, "first_error": {"node": "node-1", "line": "'type"}},
    )
    html = view.to_html()
    row = html[html.index(f'<tr style="{FAILED_ROW}">') :]
    assert row.index("node-1") < row.index("failed, old code again") < row.index("</tr>")
    assert "failed, old code again" in view.to_text()


def test_check_and_bundle_progress_show_in_the_view_and_in_text_lines(capsys):
    view = StatusView("hdb-3", mode="text")
    view.show()
    said = {"step": "bundle", "files": 1000, "bytes": 2**20, "total_files": 4000, "total_bytes": 2**22}
    view.update(Event("progress", elapsed=3.0, message="bundle: 1,000/4,000 files", progress=said))
    view.flush()
    view.update(
        Event("progress", elapsed=4.0, message="check: 10/40 files", progress=dict(said, step="check"))
    )
    view.flush()
    out = capsys.readouterr().out.splitlines()[-2:]  # after the line show() prints
    assert "bundle…" in out[0] and "bundle: 1,000/4,000 files" in out[0] and "3s]" in out[0]
    assert "check…" in out[1] and "check: 10/40 files" in out[1]
    html = view.to_html()
    assert "check: 10/40 files" in html and 'class="kx-progress"' in html and "width:25.0%" in html
    view.update(Event("check", "", [], 5.0, "q checker: no problems"))
    assert 'class="kx-progress"' not in view.to_html()  # the step ended


def test_still_updating_is_not_a_failure():
    view = StatusView("hdb-3", mode="html")
    view.update(Event("nodes", "UPDATING", _nodes("restarting", "old code"), 5.0, ""))
    view.update(
        Event(
            "still-updating",
            "UPDATING",
            _nodes("restarting", "old code"),
            2.0,
            "still updating, stopped watching: the update goes on",
            "the watch timed out",
            result={
                "status": "still-updating",
                "cluster": "hdb-3",
                "reason": "the watch timed out",
                "elapsed": 6.0,
            },
        )
    )
    html = view.to_html()
    assert "still updating, stopped watching" in html
    assert 'data-phase-state="failed"' not in html and "kx-first-error" not in html and ">failed<" not in html
    assert "failed" not in html[html.index("kx-timeline") :]  # its legend names only the states shown
    assert ("paused", "rolling nodes") in _phase_states(html)
    assert "%kx_status hdb-3" in html and "%kx_status hdb-3" in view.to_text()


def test_unchanged_skips_update_and_nodes():
    view = StatusView("dev-gp", mode="text")
    view.update(Event("unchanged", "RUNNING", [], 0.5, "the cluster already runs this code"))
    states = dict((label, state) for state, label in _phase_states(view.to_html()))
    assert states == {
        "check": "ok",
        "bundle": "ok",
        "stage": "ok",
        "update": "skipped",
        "rolling nodes": "skipped",
        "done": "ok",
    }
    assert "nothing changed" in view.to_text()


def test_text_mode_prints_one_line_per_change_not_per_poll(capsys):
    view = StatusView("hdb-3", mode="text")
    view.show()
    view.update(Event("nodes", "UPDATING", _nodes("restarting", "new code"), 5.0, ""))
    view.flush()
    for elapsed in (6.0, 7.0, 8.0):  # three reads, nothing new
        view.update(Event("checked", "UPDATING", [], elapsed, checked=elapsed))
        view.flush()
    view.update(Event("nodes", "UPDATING", _nodes("new code", "new code"), 9.0, ""))
    view.flush()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3  # the initial state, the first read, the change
    assert "1/2 nodes on the new code" in lines[1] and "node-0 restarting" in lines[1]
    assert "2/2 nodes on the new code" in lines[2]
    view.finish({"status": "succeeded", "elapsed": 12.0})
    assert capsys.readouterr().out == ""  # the watcher thread that finishes prints nothing itself
    view.flush()
    out = capsys.readouterr().out
    assert "deployed" in out and "duration: 12s" in out


def test_text_mode_prints_nothing_until_shown(capsys):
    view = StatusView("hdb-3", mode="text")
    view.update(Event("stage", "", [], 1.0, "uploading"))
    view.finish({"status": "succeeded"})
    view.flush()
    assert capsys.readouterr().out == ""


def test_html_mode_updates_one_display_in_place():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    published = []
    original = shell.display_pub.publish
    shell.display_pub.publish = lambda data, metadata=None, *, transient=None, update=False, **kw: (
        published.append((data, (transient or {}).get("display_id"), update))
    )
    try:
        view = StatusView("hdb-3", mode="html")
        view.show()
        view.update(Event("stage", "", [], 1.0, "uploading"))
        view.update(Event("update", "RUNNING", [], 2.0, "update requested"))
    finally:
        shell.display_pub.publish = original
    assert [u for _, _, u in published] == [False, True, True]
    assert len({display_id for _, display_id, _ in published}) == 1
    assert "update requested" in published[-1][0]["text/html"]


def test_widget_mode_changes_only_traits_and_keeps_node_logs_collapsed():
    pytest.importorskip("ipywidgets")
    view = StatusView("hdb-3", mode="widget")
    box, widget = view.box, view.widget
    view.update(Event("nodes", "UPDATING", _nodes("restarting"), 3.0, ""))
    view.update(Event("log", "UPDATING", [], 3.1, log={"node-0": ["starting node", "'type"]}))
    assert view.box is box and view.widget is widget and "PROVISIONING" in widget.value
    logs = box.children[1]
    assert logs.selected_index is None and logs.titles == ("node log · node-0 (2 lines since this push)",)
    assert "&#x27;type" in logs.children[0].value
    item = logs.children[0]
    view.update(Event("log", "UPDATING", [], 3.5, log={"node-0": ["node is RUNNING"]}))
    assert (
        logs.children[0] is item and "node is RUNNING" in item.value
    )  # an opened log stays open: same widget


def test_detect_mode_terminal_is_text_and_a_preference_wins():
    class Terminal:  # terminal IPython has no kernel attribute
        pass

    class Kernel:
        kernel = object()

    assert detect_mode(Terminal()) == "text"
    assert detect_mode(Kernel()) in ("widget", "html")
    assert detect_mode(Kernel(), "text") == "text"


def test_text_lines_of_a_push_name_the_step_each_message_came_from(capsys):
    # terminal IPython's %kx_update: the headline names the step under way, the message the one that ended
    view = StatusView("hdb-3", mode="text")
    view.show()
    said = {
        "bundle": "2 files, 241 bytes, sha256 8c3bee5b5ba3",
        "check": "q checker: no problems",
        "stage": "uploaded 241 bytes to s3://kx-local-code/k.zip",
        "update": "update accepted (ROLLING, clientToken t-1)",
    }
    for phase, message in said.items():
        view.update(Event(phase, "", [], 0.2, message))
        view.flush()
    lines = capsys.readouterr().out.splitlines()[1:]  # after the line show() prints
    assert [line.split(" · ", 1)[1] for line in lines] == [
        "check… · bundle ✓ 2 files, 241 bytes, sha256 8c3bee5b5ba3",
        "stage… · check ✓ q checker: no problems",
        "update… · stage ✓ uploaded 241 bytes to s3://kx-local-code/k.zip",
        "rolling nodes… · update ✓ update accepted (ROLLING, clientToken t-1)",
    ]
    assert "rolling nodes…: update ✓ update accepted" in view.to_text()
