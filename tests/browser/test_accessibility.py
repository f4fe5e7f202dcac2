"""Section 508 / WCAG 2.1 AA: axe-core (tests/browser/node_modules, `npm ci --prefix tests/browser`) run
in Chromium on every page of the web app; any serious or critical violation fails the test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import AXE_JS, HERE, WebSite, shot
from tests.requirements import require_file
from voicemail.audit.access import Actor
from voicemail.audit.service import Investigations
from voicemail.db.engine import make_engine

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.slow]

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "section508"]
FAILING_IMPACTS = ("serious", "critical")
MISSING_ID = "00000000-0000-4000-8000-000000000000"
# page name -> (path, {key} = that message's id; signed in?; expected HTTP status)
PAGES: dict[str, tuple[str, bool, int]] = {
    "signin": ("/signin", False, 200),
    "signin-error": ("/signin", False, 200),  # after a refused sign-in: the error message is shown
    "inbox": ("/", True, 200),
    "player": ("/messages/{keyboard}", True, 200),
    "confirm-delete": ("/messages/{keyboard}/delete", True, 200),
    "calls": ("/calls", True, 200),
    "settings": ("/settings", True, 200),
    "error-404": (f"/messages/{MISSING_ID}", True, 404),
    # investigation pages (the signed-in owner holds auditor, investigator and cleared_admin for this module)
    "audit": ("/audit?message={long}", True, 200),
    "audit-verify": ("/audit", True, 200),  # after "Verify the chain": the result (or why it cannot run)
    "cases": ("/cases", True, 200),
    "case": ("/cases/CI-A11Y-1", True, 200),
    "approvals": ("/approvals", True, 200),
}
INVESTIGATION_ROLES = ("auditor", "investigator", "cleared_admin")
ROOT = Actor("a11y-root", "cli@test")


@pytest.fixture(scope="module")
def investigation_data(web_site: WebSite) -> Iterator[None]:
    """Roles for the signed-in owner, a case of theirs with a hold and a request, and another investigator's
    request awaiting approval; the roles are revoked afterwards (the other browser tests see an owner)."""
    engine = make_engine(web_site.site.database_url)
    inv = Investigations(engine)
    me, other = Actor(web_site.username, "cli@test"), Actor("ivy.a11y", "cli@test")
    inv.access.grant(ROOT, ROOT.name, "administrator", "bootstrap")
    for role in INVESTIGATION_ROLES:
        inv.access.grant(ROOT, me.name, role, "accessibility test")
    inv.access.grant(ROOT, other.name, "investigator", "accessibility test")
    inv.access.open_case(me, "CI-A11Y-1", "Office of Inspector General", "accessibility check", ("1002",))
    inv.access.open_case(other, "CI-A11Y-2", "Office of Inspector General", "accessibility check")
    long_id = web_site.messages["long"].id
    holds = inv.holds.place(me, "CI-A11Y-1", "message", message_ids=[long_id], reason="accessibility check")
    inv.releases.request(me, "evidence", "CI-A11Y-1", "REQ-A11Y-1", {"message_ids": [long_id]})
    inv.releases.request(other, "evidence", "CI-A11Y-2", "REQ-A11Y-2", {"message_ids": [long_id]})
    try:
        yield
    finally:
        for hold_id in holds:
            inv.holds.release(me, hold_id, "accessibility test done")
        for role in INVESTIGATION_ROLES:
            inv.access.revoke(ROOT, me.name, role, "accessibility test done")
        engine.dispose()


@pytest.fixture
def a11y_page(request: pytest.FixtureRequest, browser: Any, web_site: WebSite,
              signed_in_state: dict[str, Any], investigation_data: None) -> Iterator[Any]:
    signed_in = PAGES[request.param][1]
    ctx = browser.new_context(base_url=web_site.base_url, viewport={"width": 1280, "height": 900},
                              storage_state=signed_in_state if signed_in else None,
                              bypass_csp=True)  # lets axe be injected as a script; axe does not check CSP
    ctx.set_default_timeout(10_000)
    try:
        yield ctx.new_page()
    finally:
        ctx.close()


def _describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:10]:
            lines.append(f"    target {node['target']}: {node.get('failureSummary', '').splitlines()[-1:]}")
            lines.append(f"      html {node['html'][:200]}")
    return "\n".join(lines)


@pytest.mark.parametrize("a11y_page", list(PAGES), indirect=True)
def test_page_has_no_serious_accessibility_violations(a11y_page: Any, web_site: WebSite,
                                                      request: pytest.FixtureRequest) -> None:
    name = request.node.callspec.params["a11y_page"]
    target, _signed_in, status = PAGES[name]
    require_file(AXE_JS, package="axe-core", install="npm ci --no-audit --no-fund --prefix tests/browser")
    path = target.format(**{key: m.id for key, m in web_site.messages.items() if key.isidentifier()})
    response = a11y_page.goto(path)
    assert response is not None and response.status == status, f"{path}: HTTP {response and response.status}"
    assert "/signin" not in a11y_page.url or name.startswith("signin"), f"{path} sent a signed-in browser to sign-in"
    if name == "signin-error":  # an unknown user: nobody's account is brought closer to a lockout
        a11y_page.locator("#username").fill("nobody.here")
        a11y_page.locator("#password").fill("not-the-password")
        a11y_page.get_by_role("button", name="Sign in").click()
        a11y_page.locator("[role=alert]").wait_for()
    if name == "audit-verify":
        a11y_page.get_by_role("button", name="Verify the chain").click()
        a11y_page.locator("[role=alert], [data-testid=verify-result]").first.wait_for()
    a11y_page.wait_for_load_state("load")
    shot(a11y_page, f"a11y-{name}")
    a11y_page.add_script_tag(path=str(AXE_JS))
    result = a11y_page.evaluate(
        "async (tags) => { const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});"
        " return {violations: r.violations, passes: r.passes.length}; }", AXE_TAGS)
    assert result["passes"] > 0, "axe checked nothing"
    failing = [v for v in result["violations"] if v.get("impact") in FAILING_IMPACTS]
    minor = [v for v in result["violations"] if v.get("impact") not in FAILING_IMPACTS]
    if minor:
        print(f"{name}: minor/moderate axe findings (not failing):\n{_describe(minor)}")
    assert not failing, f"{name} ({path}): serious/critical axe violations:\n{_describe(failing)}"


# WCAG 2.4.7 (focus visible) and 1.4.11 (non-text contrast >= 3:1): axe does not check these, so walk the
# page with Tab and measure the outline of every focused control against the background around it.
FOCUS_JS = (HERE / "focus_probe.js").read_text()



@pytest.mark.parametrize("a11y_page", ["signin", "inbox", "player", "settings"], indirect=True)
def test_keyboard_focus_is_visible_on_every_control(a11y_page: Any, web_site: WebSite,
                                                    request: pytest.FixtureRequest) -> None:
    name = request.node.callspec.params["a11y_page"]
    path = PAGES[name][0].format(**{k: m.id for k, m in web_site.messages.items() if k.isidentifier()})
    a11y_page.goto(path)
    a11y_page.evaluate("() => document.activeElement && document.activeElement.blur()")
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(40):
        a11y_page.keyboard.press("Tab")
        focus = a11y_page.evaluate(FOCUS_JS)
        if focus is None or focus["name"] in seen:
            break
        seen[focus["name"]] = focus
    assert len(seen) >= 3, f"{name}: only {list(seen)} reachable with Tab"
    bad = [f for f in seen.values() if f["style"] == "none" or f["width"] < 2 or f["ratio"] < 3.0]
    assert not bad, f"{name}: focus not visible enough (need an outline >= 2px at >= 3:1 against its " \
                    "background, WCAG 2.4.7 / 1.4.11):\n" + "\n".join(
                        f"    {f['name']}: outline {f['style']} {f['width']}px {f['color']} on {f['background']} "
                        f"= {f['ratio']:.2f}:1" for f in bad)
