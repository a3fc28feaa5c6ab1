"""The live status view, fed with hand-made engine events (no plane, no kernel)."""

import re
from html.parser import HTMLParser

import pytest

from kx_jupyter.deploy import Event
from kx_jupyter.ui.view import ROLLBACK_STEPS, WATCH_STEPS, StatusView, detect_mode


def _nodes(*statuses):
    return [{"nodeId": f"node-{i}", "status": s, "availabilityZoneId": "use1-az1",
             "launchTime": "2026-11-27T10:00:0%d+00:00" % i} for i, s in enumerate(statuses)]


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


def test_phases_mark_the_current_one_while_nodes_roll():
    view = StatusView("hdb-3", mode="html")
    for phase in ("check", "bundle", "stage", "update"):
        view.update(Event(phase, "RUNNING", [], 1.0, phase))
    view.update(Event("nodes", "UPDATING", _nodes("RUNNING", "PROVISIONING", "RUNNING"), 42.0, "2/3 nodes running"))
    html = view.to_html()
    _assert_balanced(html)
    assert _phase_states(html) == [("ok", "check"), ("ok", "bundle"), ("ok", "stage"), ("ok", "update"),
                                   ("current", "rolling nodes"), ("pending", "done")]
    assert "UPDATING" in html and "node-1" in html and "PROVISIONING" in html
    assert "2026-11-27 10:00:01" in html  # the launch time, per node
    assert "elapsed 42s" in html
    text = view.to_text()
    assert "▶ rolling nodes" in text and "node-2" in text and "UPDATING" in text


def test_a_rollback_or_a_re_attached_watch_shows_only_its_own_steps():
    rollback = StatusView("dev-gp", mode="html", steps=ROLLBACK_STEPS)
    assert _phase_states(rollback.to_html())[0] == ("current", "stage")  # nothing checked or bundled
    for phase in ("stage", "update", "nodes"):
        rollback.update(Event(phase, "", [], 1.0, phase))
    assert _phase_states(rollback.to_html()) == [("ok", "stage"), ("ok", "update"), ("current", "rolling nodes"),
                                                 ("pending", "done")]
    watch = StatusView("hdb-3", mode="html", steps=WATCH_STEPS)
    watch.update(Event("failed", "RUNNING", [], 30.0, "the update failed", "init.q failed"))
    assert _phase_states(watch.to_html()) == [("failed", "rolling nodes"), ("pending", "done")]
    assert watch.to_text().splitlines()[1].split() == ["✗", "rolling", "nodes", "·", "done"]


def test_success_summary_shows_duration_bundle_and_s3_location():
    view = StatusView("dev-gp", mode="html")
    view.update(Event("done", "RUNNING", _nodes("RUNNING"), 75.0, "the cluster runs the pushed code"))
    view.finish({"status": "succeeded", "elapsed": 75.0,
                 "bundle": {"sha256": "ab" * 32, "bytes": 2048, "files": ["init.q", "lib/a.q"]},
                 "code": {"s3Bucket": "kx-local-code", "s3Key": "kx-jupyter/abab.zip", "s3ObjectVersion": "v-17"},
                 "uploaded_bytes": 2048})
    html = view.to_html()
    _assert_balanced(html)
    assert all(state == "ok" for state, _ in _phase_states(html))
    for expected in ("deployed", "1m 15s", "ab" * 32, "2.0 KB, 2 files", "s3://kx-local-code/kx-jupyter/abab.zip", "v-17"):
        assert expected in html and expected in view.to_text()


def test_failure_shows_where_it_failed_the_reason_and_the_log_tail():
    view = StatusView("hdb-3", mode="html")
    view.update(Event("nodes", "UPDATING", _nodes("PROVISIONING"), 10.0, "0/1 nodes running"))
    view.update(Event("failed", "RUNNING", [], 30.0, "the update of hdb-3 failed", "init script error"))
    view.finish({"status": "failed", "reason": "init script error", "elapsed": 30.0,
                 "log_tail": ["loading init.q", "'type <script>"]})
    html = view.to_html()
    assert ("failed", "rolling nodes") in _phase_states(html)
    assert "init script error" in html and "&#x27;type &lt;script&gt;" in html  # escaped, never raw markup
    text = view.to_text()
    assert "reason: init script error" in text and "'type <script>" in text


def test_unchanged_skips_update_and_nodes():
    view = StatusView("dev-gp", mode="text")
    view.update(Event("unchanged", "RUNNING", [], 0.5, "the cluster already runs this code"))
    states = dict((label, state) for state, label in _phase_states(view.to_html()))
    assert states == {"check": "ok", "bundle": "ok", "stage": "ok", "update": "skipped",
                      "rolling nodes": "skipped", "done": "ok"}
    assert "nothing changed" in view.to_text()


def test_text_mode_prints_one_line_per_change_not_per_poll(capsys):
    view = StatusView("hdb-3", mode="text")
    view.show()
    same = Event("nodes", "UPDATING", _nodes("PROVISIONING", "RUNNING"), 5.0, "1/2 nodes running")
    for elapsed in (5.0, 6.0, 7.0, 8.0):  # four polls, nothing new
        view.update(Event(same.phase, same.cluster_status, same.nodes, elapsed, same.message))
        view.flush()
    view.update(Event("nodes", "UPDATING", _nodes("RUNNING", "RUNNING"), 9.0, "2/2 nodes running"))
    view.flush()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3  # the initial state, the first poll, the change
    assert "1/2 nodes running" in lines[1] and "2/2 nodes running" in lines[2]
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
    shell.display_pub.publish = lambda data, metadata=None, *, transient=None, update=False, **kw: published.append(
        (data, (transient or {}).get("display_id"), update))
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


def test_widget_mode_changes_only_the_widget_value():
    pytest.importorskip("ipywidgets")
    view = StatusView("hdb-3", mode="widget")
    widget = view.widget
    view.update(Event("nodes", "UPDATING", _nodes("PROVISIONING"), 3.0, "0/1 nodes running"))
    assert view.widget is widget and "PROVISIONING" in widget.value


def test_detect_mode_terminal_is_text_and_a_preference_wins():
    class Terminal:  # terminal IPython has no kernel attribute
        pass

    class Kernel:
        kernel = object()

    assert detect_mode(Terminal()) == "text"
    assert detect_mode(Kernel()) in ("widget", "html")
    assert detect_mode(Kernel(), "text") == "text"


def test_elapsed_time_moves_between_events_until_the_end():
    view = StatusView("hdb-3", mode="html")
    view.update(Event("nodes", "UPDATING", _nodes("PROVISIONING"), 100.0, "0/1 nodes running"))
    view._clock_zero -= 30  # as if 30 s passed without an event
    view.tick()
    assert "elapsed 2m 10s" in view.to_html()
    view.update(Event("done", "RUNNING", _nodes("RUNNING"), 131.0, "the cluster runs the pushed code"))
    view._clock_zero -= 600
    view.tick()
    assert "elapsed 2m 11s" in view.to_html()  # a finished push keeps its duration
