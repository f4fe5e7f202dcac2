"""axe-core on the page open in Chromium (WCAG 2.1 AA, Section 508): serious or critical findings fail."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import AXE_JS
from tests.browser.test_accessibility import AXE_TAGS, FAILING_IMPACTS, _describe
from tests.requirements import require_file


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Every axe-core finding on the page (WCAG 2.1 AA and Section 508 rules); the page's context must allow
    scripts to be injected (``bypass_csp=True``)."""
    require_file(AXE_JS, package="axe-core", install="npm ci --no-audit --no-fund --prefix tests/browser")
    page.add_script_tag(path=str(AXE_JS))
    result = page.evaluate(
        "async (tags) => { const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});"
        " return {violations: r.violations, passes: r.passes.length}; }", AXE_TAGS)
    assert result["passes"] > 0, "axe checked nothing"
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def assert_axe_clean(page: Any, name: str) -> None:
    """No serious or critical finding (see axe_violations)."""
    failing = [v for v in axe_violations(page) if v.get("impact") in FAILING_IMPACTS]
    assert not failing, f"{name}: serious/critical axe violations:\n{_describe(failing)}"
