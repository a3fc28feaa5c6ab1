"""The live view, the history table, the form and a diff in JupyterLab's dark theme: every text readable."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

CELLS = [
    "%load_ext kx_jupyter\n%config KxJupyter.workspace = 'ws-dark'",
    "%%kx_file init.q\nx:1",
    "d = %kx_update --cluster dev-gp",
    "%kx_history dev-gp --limit 2",
    "from kx_jupyter import form\nui = form()\nui",
    '%%kx_file init.q\nx:2 / two now\ns:"text";t:`sym;f:{x+1.5}',
    "%kx_diff dev-gp",
]

# The contrast ratio (WCAG) of an element's text against the first opaque background behind it.
CONTRAST = """el => {
    const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => { const f = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
                                 return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
    let bg = el, c;
    while (bg) { c = rgb(getComputedStyle(bg).backgroundColor); if (c.length === 3 || c[3] > 0.5) break; bg = bg.parentElement; }
    const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(c)].sort((x, y) => y - x);
    return (a + 0.05) / (b + 0.05);
}"""


def _low_contrast(locator, minimum: float = 4.5) -> list[tuple[str, float]]:
    """(text, ratio) of the leaf elements under ``locator`` whose text is hard to read."""
    found = []
    for el in locator.locator("xpath=.//*[normalize-space(text())]").all():
        if not el.is_visible():
            continue
        ratio = el.evaluate(CONTRAST)
        if ratio < minimum:
            found.append((el.inner_text()[:40], round(ratio, 2)))
    return found


def test_views_and_form_are_readable_in_the_dark_theme(lab, shot):
    page = lab.page
    (lab.server.root / "ws-dark").mkdir(exist_ok=True)
    lab.open_notebook("dark.ipynb", CELLS)
    page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
    page.wait_for_function("document.body.dataset.jpThemeLight === 'false'", timeout=30_000)
    lab.run_all_cells()
    form = page.locator(".kx-form")
    form.wait_for(timeout=60_000)
    view = page.locator(".jp-Cell").nth(2).locator(".jp-OutputArea")
    view.get_by_text("deployed").first.wait_for(timeout=60_000)
    history = page.locator(".jp-Cell").nth(3).locator(".jp-OutputArea")
    diff = page.locator(".jp-Cell").nth(6).locator(".jp-OutputArea-output")  # the diff, not the Out[] prompt
    diff.get_by_text("1.5").first.wait_for(timeout=60_000)
    try:
        for name, target in (("view", view), ("history", history), ("form", form), ("diff", diff)):
            target.scroll_into_view_if_needed()
            shot(target, name)
            assert _low_contrast(target) == [], name
    finally:
        page.evaluate(
            "window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})"
        )
