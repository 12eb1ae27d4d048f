"""The operations page in a real browser: headless Chromium (Debian's `chromium`) driven by
Playwright, against `docket serve` started as a user starts it, on its embedded servers.

Screenshots of every view go to tests/e2e/screenshots/. Any console error fails a test, and so does
any request that leaves the server: the page must work on a network without the internet."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.processes import Service, docket_env
from workers.embedded import free_port

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip(
        "the operations page's browser test needs Chromium: install Debian's package with `apt-get install chromium`",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs Playwright for Python: pip install -e '.[dev]'")

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).parent / "screenshots"
TENANT = "city"
LIVE_WITHIN_MS = 3000
# Chromium's own line for an answer with an error status, which the reporter's refusal is.
REFUSED_LOAD = "Failed to load resource: the server responded with a status of 403"


class Served:
    def __init__(self, base: str, env: dict[str, str], service: Service) -> None:
        self.base, self.env, self.service = base, env, service

    def token(self, role: str, sub: str, ward: str | None = None) -> str:
        from api.auth import issue_token

        secret = (Path(self.env["DOCKET_DATA_DIR"]) / "jwt_secret").read_text().strip()
        return issue_token(secret, tenant=TENANT, role=role, sub=sub, ward=ward)

    def headers(self, role: str, sub: str, ward: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, sub, ward)}"}

    def call(self, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> Any:
        answer = httpx.request(method, self.base + path, headers=headers, timeout=10, **kwargs)
        assert answer.status_code < 300, answer.text
        return answer.json()


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    data = tmp_path_factory.mktemp("ops")
    port = free_port()
    env = docket_env(data / "data", DOCKET_HTTP_PORT=str(port))
    service = Service(["serve"], env, data / "serve.log")
    base = f"http://127.0.0.1:{port}"
    try:
        service.wait_healthy(base)
        served = Served(base, env, service)
        seed(served)
        yield served
    finally:
        if service.process.poll() is None:
            service.kill()


def seed(served: Served) -> None:
    """Tickets in two wards and two categories, one of them held by a team."""
    reporter, manager, admin = served.headers("reporter", "ann"), served.headers("manager", "bo"), served.headers("admin", "di")
    opened = [
        served.call(
            "POST", "/api/v1/tickets", reporter, json={"title": title, "description": "Seen today", "category": category, "ward": ward}
        )
        for title, category, ward in (
            ("Pothole by the school", "roads", "w1"),
            ("Burst main <script>alert(1)</script>", "water", "w1"),
            ("Cracked kerb", "roads", "w2"),
        )
    ]
    team = served.call("POST", "/api/v1/teams", admin, json={"name": "Roads crew", "categories": ["roads"]})["id"]
    served.call("POST", f"/api/v1/tickets/{opened[0]['id']}/assign", manager, json={"team_id": team})
    served.call("PATCH", f"/api/v1/tickets/{opened[0]['id']}/status", manager, json={"status": "in_progress", "note": "crew sent"})
    wait_for(lambda: served.call("GET", "/api/v1/dashboard/workload", manager), lambda w: len(w) == 1)
    wait_for(lambda: served.call("GET", "/api/v1/dashboard/metrics", manager), lambda m: m["total_open"] == 3)


def wait_for(read, check, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if check(value) or time.monotonic() > deadline:
            assert check(value), value
            return value
        time.sleep(0.1)


class Browser:
    """A page on the served origin that records console errors and any request that leaves it."""

    def __init__(self, playwright: Any, base: str, width: int = 1200, height: int = 820) -> None:
        self.base = base
        self.browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        self.page = self.browser.new_page(viewport={"width": width, "height": height})
        self.errors: list[str] = []
        self.elsewhere: list[str] = []
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        self.page.on("request", self._request)

    def _request(self, request: Any) -> None:
        if not request.url.startswith(self.base + "/"):
            self.elsewhere.append(request.url)

    def sign_in(self, token: str) -> None:
        self.page.goto(self.base + "/")
        self.page.fill("#token", token)
        self.page.click("#token-form button[type=submit]")

    def figures(self) -> dict[str, Any]:
        cells = self.page.locator("#figures [data-figure]")
        return {
            cells.nth(i).get_attribute("data-figure"): json.loads(cells.nth(i).get_attribute("data-value")) for i in range(cells.count())
        }

    def shot(self, name: str) -> None:
        SHOTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.browser.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        opened: list[Browser] = []

        def open_page(base: str, **size: int) -> Browser:
            opened.append(Browser(playwright, base, **size))
            return opened[-1]

        yield open_page
        for one in opened:
            one.close()


def test_a_manager_sees_the_apis_figures_and_watches_them_change_live_without_a_reload(served, browser):
    manager = served.headers("manager", "bo")
    b = browser(served.base)
    b.sign_in(served.token("manager", "bo"))
    page = b.page
    page.wait_for_selector("#live[data-state=live]")
    page.wait_for_selector("#figures [data-figure=total_open]")
    assert b.figures() == served.call("GET", "/api/v1/dashboard/metrics", manager)
    assert page.evaluate("sessionStorage.getItem('docket.token')") and not page.evaluate("localStorage.length")
    b.shot("figures")
    for view in ("volume", "sla", "workload"):
        page.click(f"#tab-{view}")
        page.wait_for_selector(f"#view-{view} svg.bars")
        b.shot(view)
    assert page.locator("#workload-chart text.label").all_text_contents() == ["Roads crew"]

    page.click("#tab-queue")
    page.wait_for_selector("#queue tbody tr")
    assert page.locator("#queue tbody tr").count() == 3
    assert "<script>" in page.locator("#queue tbody").inner_text()  # shown as text, never run as markup
    page.locator("#queue tbody tr", has_text="Pothole by the school").click()
    page.wait_for_selector("#ticket-body .timeline li")
    assert "crew sent" in page.locator("#ticket-body").inner_text()
    assert "Roads crew" in page.locator("#ticket-body .steps").inner_text()
    b.shot("queue-ticket")

    page.click("#tab-volume")
    page.evaluate("window.notReloaded = true")
    roads = "#volume-chart g[data-key=roads] rect[data-series=open]"
    assert page.get_attribute(roads, "data-value") == "2"
    water = served.call("GET", "/api/v1/tickets", manager, params={"category": "water"})["items"][0]["id"]
    served.call("PATCH", f"/api/v1/tickets/{water}/status", manager, json={"status": "closed"})
    cracked = served.call("GET", "/api/v1/tickets", manager, params={"q": "kerb"})["items"][0]["id"]
    served.call("PATCH", f"/api/v1/tickets/{cracked}/status", manager, json={"status": "closed"})
    started = time.monotonic()
    page.wait_for_function(
        "() => document.querySelector('[data-figure=total_open]').dataset.value === '1'"
        " && document.querySelector(\"#volume-chart g[data-key=roads] rect[data-series=open]\").dataset.value === '1'",
        timeout=LIVE_WITHIN_MS,
    )
    assert time.monotonic() - started < LIVE_WITHIN_MS / 1000
    assert page.evaluate("window.notReloaded") is True
    assert page.is_visible("#queue-dot")
    b.shot("volume-after-change")
    page.click("#tab-queue")
    assert page.is_visible("#queue-changed")
    assert b.figures() == served.call("GET", "/api/v1/dashboard/metrics", manager)

    assert b.errors == [] and b.elsewhere == []


def test_the_page_works_with_the_keyboard_and_at_a_phones_width(served, browser):
    b = browser(served.base, width=390, height=844)
    b.sign_in(served.token("manager", "bo"))
    page = b.page
    page.wait_for_selector("#figures [data-figure=total_open]")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    b.shot("phone-figures")
    page.focus("#tab-figures")
    page.keyboard.press("ArrowRight")
    assert page.get_attribute("#tab-volume", "aria-selected") == "true"
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "tab-queue"
    page.wait_for_selector("#queue tbody tr")
    page.focus("#queue tbody tr")
    page.keyboard.press("Enter")
    page.wait_for_selector("#ticket-title:focus")
    page.keyboard.press("Escape")
    assert page.is_hidden("#ticket")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    b.shot("phone-queue")
    assert b.errors == [] and b.elsewhere == []


def test_a_ward_councillors_page_shows_only_their_ward(served, browser):
    manager = served.headers("manager", "bo")
    b = browser(served.base)
    b.sign_in(served.token("ward_councillor", "cy", ward="w1"))
    page = b.page
    page.wait_for_selector("#figures [data-figure=total_open]")
    theirs = served.call("GET", "/api/v1/dashboard/metrics", manager, params={"ward": "w1"})
    assert b.figures() == theirs
    assert b.figures() != served.call("GET", "/api/v1/dashboard/metrics", manager)
    assert page.is_disabled("#scope-ward") and page.input_value("#scope-ward") == "w1"
    b.shot("councillor-figures")
    page.click("#tab-queue")
    page.wait_for_selector("#queue tbody tr")
    wards = page.locator("#queue tbody tr td:nth-child(6)").all_text_contents()
    assert wards and set(wards) == {"w1"}
    assert b.errors == [] and b.elsewhere == []


def test_a_reporters_token_is_refused_with_a_clear_message(served, browser):
    b = browser(served.base)
    b.sign_in(served.token("reporter", "ann"))
    message = b.page.locator("#sign-in-error")
    message.wait_for()
    assert "This page is for the staff who read the dashboard" in message.inner_text()
    assert b.page.is_hidden("#console")
    assert b.page.evaluate("sessionStorage.getItem('docket.token')") is None
    b.shot("reporter-refused")
    assert [e for e in b.errors if not e.startswith(REFUSED_LOAD)] == [] and b.elsewhere == []


def test_the_service_stops_promptly_though_a_page_holds_a_stream_open(served, browser):
    b = browser(served.base)
    b.sign_in(served.token("manager", "bo"))
    b.page.wait_for_selector("#live[data-state=live]")
    assert served.service.terminate() == 0
    # Held by a stream, uvicorn would wait out DOCKET_STOP_TIMEOUT (10 s) and then cancel it, saying so.
    assert "graceful shutdown exceeded" not in served.service.text()


def test_a_person_signs_in_through_the_identity_provider_with_pkce(tmp_path, browser):
    from tests.e2e.identity_provider import IdentityProvider

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    provider = IdentityProvider("docket-ops", {"sub": "eve", "tenant": TENANT, "role": "manager"}, page_origin=base)
    env = docket_env(
        tmp_path / "data",
        DOCKET_HTTP_PORT=str(port),
        DOCKET_API_WORKERS="1",
        DOCKET_JWT_JWKS_URL=f"{provider.url}/jwks",
        DOCKET_JWT_ISSUER=provider.url,
        DOCKET_JWT_AUDIENCE="docket-ops",
        DOCKET_OIDC_CLIENT_ID="docket-ops",
        DOCKET_OIDC_AUTHORIZATION_URL=f"{provider.url}/authorize",
        DOCKET_OIDC_TOKEN_URL=f"{provider.url}/token",
    )
    service = Service(["serve"], env, tmp_path / "serve.log")
    try:
        service.wait_healthy(base)
        csp = httpx.get(base + "/").headers["content-security-policy"]
        assert f"connect-src 'self' {provider.url}" in csp
        b = browser(base)
        b.page.goto(base + "/ops")
        b.page.click("#provider-sign-in")
        b.page.wait_for_selector("#figures [data-figure=total_open]")
        assert provider.log == ["authorized", "token"]
        assert "code=" not in b.page.url  # the code is gone from the address bar
        assert "eve · manager" in b.page.inner_text("#who-name")
        assert b.errors == [] and {url.split("?")[0] for url in b.elsewhere} <= {f"{provider.url}/authorize", f"{provider.url}/token"}
        b.shot("signed-in-with-provider")
        assert service.terminate() == 0
    finally:
        provider.close()
        if service.process.poll() is None:
            service.kill()
