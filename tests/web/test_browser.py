"""The web pages in a real browser (Playwright driving Debian's Chromium), walked as a person does:
from ``/``, by clicking visible links and typing into visible fields. Each page type is also
checked with axe-core (no serious or critical accessibility violations).

Needs ``/usr/bin/chromium`` (``apt-get install chromium``; Playwright's own browser download is
never used) and, for the accessibility checks, ``npm`` to fetch ``axe-core`` into a test-time
directory (or ``SCIREGISTRY_AXE_JS`` naming an ``axe.min.js``). Skipped with the reason otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .site import CHROMIUM, CHROMIUM_ARGS, GRACE_PASSWORD, Site, start_site

pytestmark = pytest.mark.slow

playwright_sync = pytest.importorskip(
    "playwright.sync_api", reason="playwright not installed (pip install -e '.[test]')"
)
expect = playwright_sync.expect


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if not Path("/bin/busybox").is_file():
        pytest.skip("/bin/busybox not installed (apt-get install busybox-static): the demo image needs it")
    s = start_site(tmp_path_factory.mktemp("site"))
    try:
        yield s
    finally:
        s.server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    context = browser.new_context(base_url=site.url, accept_downloads=True)
    context.set_default_timeout(15_000)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


def axe_script(cache: Path) -> Path | None:
    """axe.min.js: $SCIREGISTRY_AXE_JS, else ``npm install axe-core`` into a test-time directory."""
    given = os.environ.get("SCIREGISTRY_AXE_JS")
    if given:
        return Path(given) if Path(given).is_file() else None
    target = cache / "node_modules" / "axe-core" / "axe.min.js"
    if target.is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        return None
    proc = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(cache), "axe-core@4"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return target if proc.returncode == 0 and target.is_file() else None


@pytest.fixture(scope="session")
def axe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = Path(os.environ.get("SCIREGISTRY_TEST_CACHE", tmp_path_factory.getbasetemp() / "npm-axe"))
    found = axe_script(cache)
    if found is None:
        pytest.skip(
            "axe-core not available (npm missing or the npm registry unreachable; or set SCIREGISTRY_AXE_JS)"
        )
    return found


def check_a11y(page: Any, axe: Path) -> None:
    """No serious or critical axe-core violation on the page as shown."""
    page.wait_for_load_state("load")
    page.add_script_tag(path=str(axe))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [
        (v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"]][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{page.url}: {bad}"


def sign_in(page: Any, user: str = "grace", password: str = GRACE_PASSWORD) -> None:
    page.goto("/")
    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(f"Signed in as {user}")).to_be_visible()


# --- walks ----------------------------------------------------------------------------------------


def test_find_an_image_and_see_its_layers_and_referrers(page: Any, site: Site, axe: Path) -> None:
    page.goto("/")
    check_a11y(page, axe)
    page.get_by_role("link", name="Repositories", exact=True).click()
    expect(page.get_by_role("heading", name="Repositories", level=1)).to_be_visible()
    check_a11y(page, axe)
    page.get_by_role("link", name="lab", exact=True).click()
    expect(page.get_by_role("heading", name="lab", level=1)).to_be_visible()
    check_a11y(page, axe)
    page.get_by_role("link", name="lab/gc-content").click()
    expect(page.get_by_role("heading", name="lab/gc-content", level=1)).to_be_visible()
    check_a11y(page, axe)
    page.get_by_role("link", name="1.0.0", exact=True).click()
    expect(page.get_by_role("heading", name="Layers")).to_be_visible()
    digest = site.public.image.rsplit("@", 1)[1]
    expect(page.locator("#digest")).to_have_text(digest)
    assert page.locator("#layers + .table-wrap tbody tr").count() >= 1
    expect(page.get_by_role("heading", name="Referrers")).to_be_visible()
    sbom = page.locator("ul.tree").get_by_role("link", name=re.compile(site.sbom_digest[:20]))
    expect(sbom).to_be_visible()
    expect(page.locator("#pull-docker")).to_contain_text(
        f"docker pull 127.0.0.1:{site.server.port}/lab/gc-content@"
    )
    expect(page.get_by_role("heading", name="Used by")).to_be_visible()
    check_a11y(page, axe)
    sbom.click()  # a referrer is a manifest page of its own, pointing back
    expect(page.get_by_text("application/spdx+json").first).to_be_visible()


def test_open_a_dataset_and_download_a_file_under_its_name(page: Any, site: Site, axe: Path) -> None:
    page.goto("/")
    page.get_by_role("link", name="Datasets", exact=True).click()
    expect(page.get_by_role("heading", name="Datasets", level=1)).to_be_visible()
    check_a11y(page, axe)
    page.get_by_role("link", name="gc-content sample reads").first.click()
    expect(page.get_by_role("heading", name="Files")).to_be_visible()
    check_a11y(page, axe)
    data = (
        Path(__file__).resolve().parents[2] / "workflows" / "gc-content" / "data" / "sample_b.fasta"
    ).read_bytes()
    row = page.get_by_role("row", name=re.compile("sample_b.fasta"))
    expect(row).to_contain_text(__import__("hashlib").sha256(data).hexdigest())
    with page.expect_download() as info:
        page.get_by_role("link", name="sample_b.fasta").click()
    download = info.value
    assert download.suggested_filename == "sample_b.fasta"
    assert Path(download.path()).read_bytes() == data


def test_search_a_parameter_reach_the_run_and_follow_its_graph(page: Any, site: Site, axe: Path) -> None:
    page.goto("/")
    page.get_by_label("Search the registry").fill("min_length")
    page.get_by_label("Search the registry").press("Enter")
    expect(page.get_by_role("heading", name="Search", level=1)).to_be_visible()
    check_a11y(page, axe)
    page.get_by_role("link", name="GC content of the sample reads (k=3)").first.click()
    expect(page.get_by_role("heading", name="GC content of the sample reads (k=3)", level=1)).to_be_visible()
    expect(page.locator("#command-line")).to_contain_text("gc-content.sh --k 3 --min-length 100")
    check_a11y(page, axe)
    run_url = page.url
    # the provenance graph: every box is a link; follow the image, then the dataset
    graph = page.locator("svg.graph")
    graph.get_by_role("link", name=re.compile(r"^image gc-content")).click()
    expect(page.get_by_role("heading", name="Layers")).to_be_visible()
    assert "/r/lab/gc-content/-/manifest/sha256:" in page.url
    page.goto(run_url)
    page.locator("svg.graph").get_by_role("link", name=re.compile(r"^dataset reads")).click()
    expect(page.get_by_role("heading", name="Files")).to_be_visible()
    assert "/r/lab/reads/-/manifest/sha256:" in page.url
    # the filter form of the runs list finds it by parameter and value
    page.get_by_role("link", name="Runs", exact=True).click()
    page.get_by_label("Parameter").fill("k")
    page.get_by_label("Value").fill("3")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"parameter=k"))
    expect(page.get_by_role("link", name="GC content of the sample reads (k=3)").first).to_be_visible()
    check_a11y(page, axe)


def test_reach_the_doi_page_from_the_run(page: Any, site: Site, axe: Path) -> None:
    page.goto("/")
    page.get_by_role("link", name="DOIs", exact=True).click()
    expect(page.get_by_role("heading", name="DOIs", level=1)).to_be_visible()
    check_a11y(page, axe)
    page.get_by_role("link", name=re.compile("GC content and 3-mer counts")).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("GC content and 3-mer counts")
    assert page.url.endswith(f"/doi/{site.public_doi}")
    check_a11y(page, axe)
    # and back: the run page links to its DOI
    page.get_by_role("link", name="Runs", exact=True).click()
    page.get_by_role("link", name="GC content of the sample reads (k=3)").first.click()
    page.get_by_role("main").get_by_role("link", name=site.public_doi).first.click()
    assert page.url.endswith(f"/doi/{site.public_doi}")


def test_sign_in_create_and_revoke_an_api_token(page: Any, site: Site, axe: Path) -> None:
    page.goto("/")
    page.get_by_role("link", name="Sign in").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    check_a11y(page, axe)
    page.get_by_label("User name").fill("grace")
    page.get_by_label("Password").fill(GRACE_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Signed in as grace")).to_be_visible()
    expect(page.get_by_role("heading", name="Your namespaces")).to_be_visible()
    page.get_by_role("link", name="Tokens").click()
    expect(page.get_by_role("heading", name="Tokens of grace")).to_be_visible()
    check_a11y(page, axe)
    page.get_by_label("Description").first.fill("laptop in the lab")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-secret").inner_text().strip()
    assert secret.startswith("sr_")
    check_a11y(page, axe)
    import requests

    hdr = {"Authorization": f"Bearer {secret}"}
    assert (
        requests.get(f"{site.url}/v2/grace/gc-content/tags/list", headers=hdr, timeout=10).status_code == 200
    )
    token_id = secret.split("_")[1]
    page.get_by_role("button", name=f"Revoke token {token_id}").click()
    expect(page.get_by_role("button", name=f"Revoke token {token_id}")).to_have_count(0)
    # every worker refuses it once its credential cache (5 s) has expired
    deadline = time.monotonic() + 15
    while (
        requests.get(f"{site.url}/v2/grace/gc-content/tags/list", headers=hdr, timeout=10).status_code != 401
    ):
        assert time.monotonic() < deadline, "the revoked token still works"
        time.sleep(0.5)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()


def dismiss_password_prompt(route: Any) -> None:
    """What a person's "Cancel" on the browser's password prompt does: the browser shows the 401
    page itself. (Headless Chromium under Playwright fails the navigation instead of prompting,
    so the Basic challenge is taken off the response here; the Bearer one stays.)"""
    resp = route.fetch()
    headers = [
        (h["name"], h["value"])
        for h in resp.headers_array
        if not (h["name"].lower() == "www-authenticate" and h["value"].startswith("Basic"))
    ]
    merged: dict[str, str] = {}
    for name, value in headers:
        merged[name] = f"{merged[name]}, {value}" if name in merged else value
    route.fulfill(response=resp, headers=merged)


def test_open_a_private_doi_with_a_reviewer_token(page: Any, site: Site, axe: Path) -> None:
    page.route(f"**/doi/{site.private_doi}", dismiss_password_prompt)
    page.goto(f"/doi/{site.private_doi}")  # the link a journal sends its reviewers
    expect(page.get_by_role("heading", name="Sign-in required")).to_be_visible()
    check_a11y(page, axe)
    page.get_by_label("Reviewer token").fill("sr_wrong_token")
    page.get_by_role("button", name="Open").click()
    expect(page.get_by_role("alert")).to_contain_text("does not open this DOI")
    check_a11y(page, axe)
    page.get_by_label("Reviewer token").fill(site.reviewer_token)
    page.get_by_role("button", name="Open").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("GC content and 3-mer counts")
    assert page.url.endswith(f"/doi/{site.private_doi}")


def test_the_browser_password_prompt_takes_a_reviewer_token(browser: Any, site: Site) -> None:
    """The Basic challenge beside the Bearer one: a browser prompts, the reviewer types any user
    name and the token as the password."""
    context = browser.new_context(
        base_url=site.url, http_credentials={"username": "reviewer", "password": site.reviewer_token}
    )
    try:
        page = context.new_page()
        resp = page.goto(f"/doi/{site.private_doi}")
        assert resp is not None and resp.status == 200
        expect(page.get_by_role("heading", level=1)).to_contain_text("GC content and 3-mer counts")
    finally:
        context.close()


def test_a_private_repository_does_not_appear_for_an_anonymous_visitor(
    page: Any, site: Site, axe: Path
) -> None:
    page.goto("/")
    page.get_by_role("link", name="Repositories", exact=True).click()
    expect(page.get_by_role("link", name="lab", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="grace", exact=True)).to_have_count(0)
    page.get_by_label("Search the registry").fill("embargoed")
    page.get_by_label("Search the registry").press("Enter")
    expect(page.get_by_text("Nothing found")).to_be_visible()
    page.get_by_label("Search the registry").fill("gc-results")
    page.get_by_label("Search the registry").press("Enter")
    expect(page.get_by_role("link", name=re.compile(r"^lab.gc-results")).first).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"^grace."))).to_have_count(0)
    resp = page.goto("/r/grace/gc-content")
    assert resp is not None and resp.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    check_a11y(page, axe)
    # grace, signed in, sees her private namespace
    sign_in(page)
    page.get_by_role("link", name="Repositories", exact=True).click()
    expect(page.get_by_role("link", name="grace", exact=True)).to_be_visible()


def test_administrator_page(page: Any, site: Site, axe: Path) -> None:
    from .site import ADMIN_PASSWORD

    sign_in(page, "admin", ADMIN_PASSWORD)
    page.get_by_role("link", name="Admin", exact=True).click()
    expect(page.get_by_role("heading", name="Administration")).to_be_visible()
    check_a11y(page, axe)
    page.get_by_label("New user").fill("lin")
    page.get_by_label("Password", exact=True).fill("lin-password-12")
    page.get_by_role("button", name="Create user").click()
    expect(page.locator("#users + .table-wrap").get_by_role("cell", name="lin", exact=True)).to_be_visible()


def test_phone_width_has_no_horizontal_scroll(browser: Any, site: Site) -> None:
    context = browser.new_context(base_url=site.url, viewport={"width": 375, "height": 740})
    page = context.new_page()
    try:
        for path in ("/", "/runs", "/datasets", "/search?q=gc", f"/doi/{site.public_doi}"):
            page.goto(path)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
                .slice(0, 5)
                .map(e => e.tagName + '.' + e.className + ': ' + (e.textContent || '').slice(0, 60))""")
            assert overflow <= 0, (path, overflow, wide)
    finally:
        context.close()
