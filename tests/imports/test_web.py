"""The dashboard's import page in a real browser (both databases): upload, the dry run's problems with file, line
and column, a clean dry run, then Commit; a viewer is refused the page."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from domain.model.roles import Role
from tests.web.conftest import Site, context, page, query, sign_in, site, text_of

from .conftest import small_book

__all__ = ["context", "page", "site"]


def _upload(page: Page, files: dict[str, str]) -> None:
    for name, text in files.items():
        page.set_input_files(f"#file-{name}", files={"name": f"{name}.csv", "mimeType": "text/csv",
                                                     "buffer": text.encode()})
    page.get_by_role("button", name="Check (dry run)").click()
    page.wait_for_load_state()


def test_finance_checks_the_files_then_commits_them(site: Site, page: Page) -> None:
    files = {k: v.replace("C-", "WEB-C-").replace("Client ", "Web client ") for k, v in small_book(2).items()}
    before = query(site.db, "SELECT count(*) FROM clients")[0][0]
    sign_in(page, site.emails[Role.FINANCE], next_path="/app/import")
    expect(page.get_by_role("heading", level=1)).to_have_text("Import your book")
    _upload(page, dict(files, arrangements=files["arrangements"].replace("900.00", "nine hundred")))
    expect(page.locator("#problems tbody tr")).to_have_count(2)
    first = text_of(page, "#problems tbody tr:first-child")
    assert "arrangements.csv 2 fee nine hundred" in first and "decimal number" in first
    expect(page.locator("#commit-form")).to_have_count(0)   # nothing to commit while there are problems
    site.shot(page, "import-problems")
    _upload(page, files)
    expect(page.locator("#report-h")).to_have_text("Dry run: no problems")
    expect(page.locator("#counts tr[data-file=arrangements] td").nth(2)).to_have_text("4")
    assert query(site.db, "SELECT count(*) FROM clients")[0][0] == before   # a dry run keeps nothing
    page.get_by_role("button", name="Commit the import").click()
    expect(page.locator("#import-done")).to_contain_text("Imported 2 clients, 4 arrangements and 2 time entries")
    site.shot(page, "import-done")
    assert query(site.db, "SELECT count(*) FROM clients WHERE name LIKE 'Web client %'")[0][0] == 2
    page.goto("/app/import")   # the same files again: nothing new
    _upload(page, files)
    page.get_by_role("button", name="Commit the import").click()
    expect(page.locator("#counts tr[data-file=clients] td").nth(3)).to_have_text("2")
    assert query(site.db, "SELECT count(*) FROM clients")[0][0] == before + 2


def test_a_viewer_is_refused_the_import_page(site: Site, page: Page) -> None:
    sign_in(page, site.emails[Role.VIEWER])
    expect(page.get_by_role("link", name="Import")).to_have_count(0)
    response = page.goto("/app/import")
    assert response is not None and response.status == 403
