#!/usr/bin/env python3
"""Screenshots of the main web pages, for docs/screenshots/ (referenced from the README).

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Starts a registry on 127.0.0.1:<free port> in a temporary directory, fills it the way the browser
tests do (``sciregistry demo`` into a public and a private namespace; tests/web/site.py), and
photographs each page with Debian's Chromium (/usr/bin/chromium) through Playwright, at desktop
width and a few at phone width. Needs /bin/busybox (the demo image) and /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from web.site import CHROMIUM, CHROMIUM_ARGS, GRACE_PASSWORD, Site, start_site

DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
MAX_HEIGHT = 1700


def pages(site: Site, page) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(file name, path) of each page, found by following links as a visitor would."""
    page.goto(site.url + "/runs")
    run_path = page.get_by_role("link", name=re.compile("GC content of the sample reads")).first.get_attribute("href")
    image = site.public.image.split("/", 1)[1]  # host/lab/gc-content@sha256:... -> lab/gc-content@...
    dataset = site.public.dataset.split("/", 1)[1]
    repo, digest = image.split("@")
    drepo, ddigest = dataset.split("@")
    return [
        ("home", "/"),
        ("search", "/search?q=min_length"),
        ("repository", f"/r/{repo}"),
        ("image", f"/r/{repo}/-/manifest/{digest}"),
        ("dataset", f"/r/{drepo}/-/manifest/{ddigest}"),
        ("runs", "/runs"),
        ("run", str(run_path)),
        ("doi", f"/doi/{site.public_doi}"),
        ("private-doi", f"/doi/{site.private_doi}"),
    ]


def shoot(page, path: Path) -> None:  # type: ignore[no-untyped-def]
    height = min(MAX_HEIGHT, page.evaluate("document.documentElement.scrollHeight"))
    width = page.viewport_size["width"]
    page.screenshot(path=str(path), full_page=True, clip={"x": 0, "y": 0, "width": width, "height": height})
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="sciregistry-shots-") as tmp:
        site = start_site(Path(tmp))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                ctx = browser.new_context(viewport=DESKTOP, device_scale_factor=1)
                page = ctx.new_page()
                # a private DOI's page: show the 401 page with its form, as after "Cancel" on the prompt
                page.route(f"**/doi/{site.private_doi}", _without_basic)
                for name, path in pages(site, page):
                    page.goto(site.url + path)
                    shoot(page, out / f"{name}.png")
                # signed in: the tokens page, with a token just created (its secret is shown once)
                page.goto(site.url + "/login")
                page.get_by_label("User name").fill("grace")
                page.get_by_label("Password").fill(GRACE_PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.get_by_role("link", name="Tokens").click()
                page.get_by_label("Description").first.fill("laptop")
                page.get_by_role("button", name="Create token").click()
                page.locator("#new-secret").wait_for()
                shoot(page, out / "tokens.png")
                ctx.close()
                phone = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True)
                page = phone.new_page()
                for name, path in pages(site, page):
                    if name in ("home", "run", "dataset"):
                        page.goto(site.url + path)
                        shoot(page, out / f"phone-{name}.png")
                phone.close()
                browser.close()
        finally:
            site.server.stop()


def _without_basic(route) -> None:  # type: ignore[no-untyped-def]
    resp = route.fetch()
    headers: dict[str, str] = {}
    for h in resp.headers_array:
        if h["name"].lower() == "www-authenticate" and h["value"].startswith("Basic"):
            continue
        headers[h["name"]] = f"{headers[h['name']]}, {h['value']}" if h["name"] in headers else h["value"]
    route.fulfill(response=resp, headers=headers)


if __name__ == "__main__":
    main()
