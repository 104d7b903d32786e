"""`GET /docs` for people (issue 14, item 2): headless Chromium (Debian's) loads the page, every
operation is listed, "Try it out" reaches the gateway and the recording upstream, and nothing is
fetched from anywhere but the gateway (the machines are offline; no CDN). A screenshot is kept in
the test's temporary folder.
"""

from __future__ import annotations

import shutil

import pytest

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package drives Chromium")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if shutil.which(CHROMIUM) is None:
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OPERATIONS = 23


def test_docs_page_lists_operations_and_try_it_reaches_the_gateway(polytomic, upstream, tmp_path):
    base = polytomic.url(8080)
    requested: list[str] = []
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=ARGS
        )
        try:
            page = browser.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.goto(base + "/docs", timeout=60_000)
            page.wait_for_selector(".opblock", timeout=60_000)
            assert page.locator(".opblock").count() == OPERATIONS
            listing = page.locator(".opblock", has=page.locator(".opblock-summary-path", has_text="/v1/api/syncs"))
            syncs = listing.filter(has=page.locator(".opblock-summary-method", has_text="GET")).first
            syncs.locator(".opblock-summary-control").click()
            before = len(upstream.requests)
            try_it = syncs.locator("button.try-out__btn")
            if try_it.count() and "Cancel" not in try_it.inner_text():
                try_it.click()
            syncs.locator("button.execute").click()
            status = syncs.locator(".live-responses-table .response .response-col_status").first
            status.wait_for(timeout=30_000)
            assert status.inner_text().strip().startswith("200"), status.inner_text()
            page.screenshot(path=str(tmp_path / "docs.png"), full_page=True)
        finally:
            browser.close()
    assert len(upstream.requests) > before and upstream.requests[-1].path.startswith("/api/syncs")
    assert (tmp_path / "docs.png").stat().st_size > 0
    foreign = [url for url in requested if not url.startswith(base + "/") and not url.startswith("data:")]
    assert not foreign, f"the page fetched from elsewhere than the gateway: {foreign}"
