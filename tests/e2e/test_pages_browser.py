"""The desk's pages in a real browser: headless Chromium (Debian's package) driven by Playwright.

A real `claims serve` on the embedded PostgreSQL with the example data loaded; the tests click
through as a desk would and run axe-core on every page. Skipped, saying how to get them, where
/usr/bin/chromium is missing (`.ci/run` installs it, so CI runs them).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.server import served

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "miami-talks.ndjson"
CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"
SHOTS = os.environ.get("CLAIMS_SCREENSHOTS")  # a folder: the board, a topic and a claim are saved there
PESKOV = "0bb01c90-e878-4d61-9a84-aa4b16d42ffb"  # "Dmitriev is only there to receive information"
JOINT = "32557f03-626c-4d38-bc33-cf02adef0f89"  # Umerov and Witkoff's joint statement
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]

if not CHROMIUM.exists():
    pytest.skip("the browser tests need Chromium at /usr/bin/chromium: `apt-get install -y chromium` "
                "(Debian's package; .ci/run installs it)", allow_module_level=True)
playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright (in the dev dependencies)")


def claims(home: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("CLAIMS_")}
    done = subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env | {"CLAIMS_HOME": str(home)})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `claims serve` (open: no key) with the example data loaded; its base URL."""
    home = tmp_path_factory.mktemp("desk") / "home"
    with served({"CLAIMS_HOME": str(home)}, timeout=120) as url:
        claims(home, "load", str(EXAMPLE))
        with httpx.Client(base_url=url) as http:  # the views have caught up with the load
            head = max(p["head"] for p in http.get("/v1/projections").json()["items"])
            http.get("/v1/positions", headers={"X-Min-Position": str(head)}).raise_for_status()
            http.get("/v1/claims", headers={"X-Min-Position": str(head)}).raise_for_status()
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        yield page
    finally:
        context.close()


def cell(page: Any, party: str, topic_title: str) -> Any:
    """The board's cell of a party's row under a topic's column."""
    titles = [t.strip() for t in page.locator("table.board thead th").all_inner_texts()]
    column = titles.index(topic_title)
    row = page.locator("table.board tbody tr", has=page.locator("th", has_text=re.compile(f"^{party}")))
    return row.locator("td").nth(column - 1)


MIAMI = "Ukraine–US talks in Miami (December 2025)"
GUARANTEES = "Security guarantees for Ukraine"


def test_board_shows_the_seed_positions_and_a_cell_leads_to_its_claim(desk: str, page: Any) -> None:
    page.goto(desk + "/")
    russia = cell(page, "Russia", MIAMI)
    assert "▼ negative" in russia.inner_text()
    assert "through Dmitry Peskov" in russia.inner_text()
    assert "Dmitriev is only there to receive information" in russia.inner_text()
    ukraine = cell(page, "Ukraine", MIAMI)
    assert "▲ positive" in ukraine.inner_text() and "through Volodymyr Zelensky" in ukraine.inner_text()
    assert "2025-12-23 20:00 +02:00" in ukraine.inner_text()  # Zelensky's latest statement
    # The joint statement counts for its co-speaker too: Witkoff's position through Umerov.
    assert "through Rustem Umerov" in cell(page, "Steve Witkoff", GUARANTEES).inner_text()
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/board.png", full_page=True)

    russia.get_by_role("link").click()
    page.wait_for_url(f"**/claims/{PESKOV}")
    assert page.get_by_role("heading", level=1).inner_text() == "Claim by Dmitry Peskov"
    assert page.locator("blockquote.claim-text").get_attribute("lang") == "de"

    # A date alone works for `at`: on 2025-12-21 Zelensky had not yet made his statement of the 23rd.
    page.goto(desk + "/?at=2025-12-21")
    assert "2025-12-23" not in cell(page, "Ukraine", MIAMI).inner_text()
    page.goto(desk + "/?as_of=2000-01-01")
    assert "No positions" in page.locator("main").inner_text()


def test_topic_page_has_timeline_chart_and_table(desk: str, page: Any) -> None:
    page.goto(desk + "/topics/miami-talks")
    assert page.locator("svg.stance-chart title").first.text_content().startswith("Each speaker's stance")
    assert page.locator("svg.stance-chart circle").count() >= 12
    rows = page.locator("table.data tbody tr")
    assert rows.count() >= 12
    assert page.locator("ol.timeline > li").count() >= 12
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/topic.png", full_page=True)
    page.goto(desk + f"/claims/{JOINT}")
    assert "Steve Witkoff" in page.get_by_role("heading", level=1).inner_text()
    assert "Corroborated" in page.locator("main").inner_text()


def _correct_stance(page: Any, stance: str, reason: str) -> None:
    page.get_by_label("Stance").select_option(stance)
    page.get_by_label("Reason for the correction").fill(reason)
    page.get_by_role("button", name=re.compile("Save|Send again")).click()


def test_a_correction_changes_the_board_and_a_stale_one_is_refused(desk: str, browser: Any, page: Any) -> None:
    page.goto(desk + f"/claims/{PESKOV}")
    page.get_by_role("link", name="Correct").click()
    version = int(page.locator("input[name=version]").get_attribute("value"))

    # A second tab reads the same version before the first one corrects it.
    other = browser.new_context().new_page()
    other.goto(desk + f"/claims/{PESKOV}/correct")

    _correct_stance(page, "mixed", "Peskov also said the talks may continue")
    page.wait_for_url(re.compile(rf"/claims/{PESKOV}\?done=corrected"))
    history = page.locator("table.history tbody tr").last
    assert "ClaimCorrected" in history.inner_text()
    assert history.locator("del").inner_text().endswith("negative")
    assert history.locator("ins").inner_text().endswith("mixed")

    page.get_by_role("link", name="Board").click()
    assert "◆ mixed" in cell(page, "Russia", MIAMI).inner_text()  # read-your-writes: at once

    _correct_stance(other, "positive", "a stale tab")
    problem = other.get_by_role("alert")
    assert "Changed meanwhile" in problem.inner_text()
    assert f"version {version + 1} now" in problem.inner_text()
    assert other.locator("input[name=version]").get_attribute("value") == str(version + 1)
    other.context.close()
    page.goto(desk + f"/claims/{PESKOV}")
    assert "◆ mixed" in page.locator("main").inner_text()  # nothing was overwritten

    # The older version stays readable.
    page.goto(desk + f"/claims/{PESKOV}?version={version}")
    assert "▼ negative" in page.locator("main > p").nth(1).inner_text()


def test_recording_shows_errors_beside_fields_and_candidates_for_unknown_names(desk: str, page: Any) -> None:
    page.goto(desk + "/record")
    speaker = page.get_by_label("Speaker", exact=False).first
    speaker.press_sequentially("Peskow", delay=30)
    page.wait_for_function("document.querySelectorAll('#f-speaker-options option').length > 0")
    assert page.locator("#f-speaker-options option").first.get_attribute("value") == "dmitry-peskov"
    co_speakers = page.get_by_label("Co-speakers")
    co_speakers.press_sequentially("Umerow, Witkof", delay=30)  # the last name is the one being typed
    page.wait_for_function("document.querySelectorAll('#f-co-speakers-options option').length > 0")
    assert page.locator("#f-co-speakers-options option").first.get_attribute("value") == "Umerow, steve-witkoff"
    co_speakers.fill("")

    speaker.fill("Peskof")  # no party has this name
    page.get_by_label("Topic").fill("miami-talks")
    page.get_by_label("Language", exact=True).fill("de")
    page.get_by_label("Stance").select_option("negative")
    page.get_by_label("Stated at").fill("21.12.2025")
    page.get_by_label("Source URL").fill("not a url")
    page.get_by_role("button", name="Save").click()
    assert page.locator("#f-text-error").is_visible()  # beside the field it names
    assert "absolute http(s) URL" in page.locator("#f-source-url-error").inner_text()
    assert "date" in page.locator("#f-stated-at-error").inner_text()
    assert page.get_by_label("Text").get_attribute("aria-invalid") == "true"

    page.get_by_label("Text").fill("Peskow: keine neue Nachricht aus Moskau.")
    page.get_by_label("Stated at").fill("2025-12-22")
    page.get_by_label("Source URL").fill("https://example.org/seeds/2025-12-21-miami-talks-productive")
    page.get_by_role("button", name="Save").click()
    assert "no party is called 'Peskof'" in page.locator("#f-speaker-error").inner_text()
    page.get_by_label(re.compile("^Dmitry Peskov")).check()
    assert speaker.input_value() == "dmitry-peskov"  # the candidate fills the field (JavaScript on)
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/claims/[0-9a-f-]{36}\?done=recorded"))
    assert page.get_by_role("heading", level=1).inner_text() == "Claim by Dmitry Peskov"

    page.goto(desk + "/?topic=miami-talks")
    russia = cell(page, "Russia", MIAMI).inner_text()
    assert "keine neue Nachricht aus Moskau" in russia and "2025-12-22" in russia  # the latest claim, at once


def test_a_review_through_its_form_shows_as_a_worded_verdict(desk: str, page: Any) -> None:
    page.goto(desk + f"/claims/{JOINT}")
    page.get_by_role("link", name="Review").click()
    page.get_by_label("Reviewer").fill("BBC")
    page.get_by_label("Sources").fill("https://example.org/seeds/2025-12-23-miami-talks-continue")
    page.get_by_role("button", name="Save").click()  # no rating chosen
    assert page.locator("#f-rating-error").is_visible()
    assert page.get_by_label("Rating").get_attribute("aria-invalid") == "true"
    assert not (violations := axe(page)), violations  # the refused form, too
    page.get_by_label("Rating").select_option("mostly-true")
    page.get_by_label("Note").fill("Both delegations' statements say so.")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(rf"/claims/{JOINT}\?done=reviewed"))
    verdict = page.locator("ul.verdicts li").first
    assert "rated it ✓ mostly true: Both delegations' statements say so." in verdict.inner_text()
    assert verdict.get_by_role("link", name=re.compile("BBC")).get_attribute("href") == "/parties/bbc"
    assert "reviewed by BBC as mostly true" in page.locator("table.history tbody tr").last.inner_text()
    assert not (violations := axe(page)), violations
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/claim.png", full_page=True)


def test_pages_work_with_javascript_off(desk: str, browser: Any) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(desk + "/parties/new")
    page.get_by_label("Id").fill("sergey-lavrov")
    page.get_by_label("Name", exact=True).fill("Sergey Lavrov")
    page.get_by_label("Kind").select_option("person")
    page.get_by_label("Affiliation").fill("Moskau")
    page.get_by_label("Aliases").fill("Lawrow, Лавров")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/parties/sergey-lavrov\?done=registered"))
    assert "Лавров" in page.locator("main").inner_text()
    assert "Kremlin" in page.locator("main").inner_text()  # speaks for: Kremlin → Russia
    page.get_by_role("link", name="Add an alias").click()
    page.get_by_label("Alias").fill("Lawrow")
    page.get_by_role("button", name="Save").click()
    assert "already an alias" in page.locator("#f-alias-error").inner_text()  # beside the field, JavaScript off
    page.get_by_label("Alias").fill("S. Lawrow")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/parties/sergey-lavrov\?done=alias-added"))
    assert "S. Lawrow" in page.locator(".aliases").inner_text()
    context.close()


def test_api_documentation_loads_without_internet(desk: str, page: Any) -> None:
    fetched: list[str] = []

    def only_ours(route: Any) -> None:
        fetched.append(route.request.url)
        (route.continue_() if route.request.url.startswith(desk) else route.abort())

    page.route("**/*", only_ours)
    page.goto(desk + "/docs")
    page.locator(".swagger-ui .info .title").wait_for()
    assert all(url.startswith(desk) for url in fetched)


PAGES = [
    "/", "/?topic=miami-talks&at=2025-12-22", "/topics/miami-talks", "/topics/kyiv-drone-strike",
    "/parties/russia", "/parties/ukraine", f"/claims/{JOINT}", f"/claims/{PESKOV}?version=1", "/claims",
    "/claims?q=Miami&status=active", "/claims?topic=Not+A+Slug", "/audit", "/audit?verify=true", "/record",
    f"/claims/{PESKOV}/correct", f"/claims/{PESKOV}/corroborate", f"/claims/{PESKOV}/dispute",
    f"/claims/{PESKOV}/retract", f"/claims/{PESKOV}/supersede", f"/claims/{PESKOV}/review", "/parties/new", "/parties/russia/alias",
    "/parties/kremlin/merge", "/sign-in", "/claims/00000000-0000-4000-8000-000000000000",
]


def axe(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is."""
    page.add_script_tag(content=AXE.read_text())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def test_axe_finds_no_serious_violation_on_any_page(desk: str, page: Any) -> None:
    found = {}
    for path in PAGES:
        page.goto(desk + path)
        if violations := axe(page):
            found[path] = violations
    # A form answered with errors, too.
    page.goto(desk + "/record")
    page.get_by_role("button", name="Save").click()
    page.locator(".field-error").first.wait_for()
    if violations := axe(page):
        found["/record (refused)"] = violations
    assert not found, found


def test_keyboard_reaches_the_board_cells(desk: str, page: Any) -> None:
    page.goto(desk + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('cell-link')"):
            break
    else:
        pytest.fail("no board cell is reachable by the keyboard")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/claims/[0-9a-f-]{36}$"))


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A `claims serve` with keys (so nothing is open), on a home of its own."""
    home = tmp_path / "home"
    with served({"CLAIMS_HOME": str(home)}, timeout=120) as url:
        yield url, home


def test_sign_in_and_out_with_keys(keyed: tuple[str, Path], browser: Any) -> None:
    url, home = keyed
    writer = claims(home, "keys", "create", "--name", "desk-1", "--role", "writer").strip().splitlines()[-1]
    reader = claims(home, "keys", "create", "--name", "intern", "--role", "reader").strip().splitlines()[-1]
    time.sleep(1.2)  # the server reads its keys at most once a second
    context = browser.new_context()
    page = context.new_page()
    page.goto(url + "/")
    page.wait_for_url(re.compile(r"/sign-in\?next=%2F$"))  # closed as the API is

    page.get_by_label("API key token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    assert "not a valid API key" in page.locator("#f-token-error").inner_text()

    page.get_by_label("API key token").fill(writer)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(url + "/")
    assert "Signed in as desk-1 (writer)" in page.locator("header").inner_text()
    token = next(c for c in context.cookies() if c["name"] == "claims_token")
    assert token["httpOnly"] and token["sameSite"] == "Strict"
    assert page.evaluate("document.cookie").find(writer) == -1  # scripts cannot read it

    page.goto(url + "/parties/new")
    page.get_by_label("Id").fill("ukraine")
    page.get_by_label("Name", exact=True).fill("Ukraine")
    page.get_by_label("Kind").select_option("state")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/parties/ukraine\?done=registered"))
    assert httpx.get(f"{url}/v1/parties/ukraine").status_code == 401  # the cookie opens the pages, not the API
    events = httpx.get(f"{url}/v1/audit/events", headers={"Authorization": f"Bearer {writer}"}).json()["items"]
    assert events

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/sign-in$"))
    page.goto(url + "/audit")
    page.wait_for_url(re.compile(r"/sign-in\?next="))

    # A reader reads, and is refused a write (403), as on the API.
    page.get_by_label("API key token").fill(reader)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/audit$"))
    page.goto(url + "/parties/new")
    page.get_by_label("Id").fill("russia")
    page.get_by_label("Name", exact=True).fill("Russia")
    page.get_by_label("Kind").select_option("state")
    page.get_by_role("button", name="Save").click()
    assert "needs role writer" in page.locator("main").inner_text()
    assert page.get_by_role("heading", level=1).inner_text().startswith("Not allowed")
    context.close()
