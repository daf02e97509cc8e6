"""The pages of the product and who may open each: one table for the server, the nav and the error pages.

`PAGES` is the single place a page's access level is written: the API registers
the Dash page routes with it (wfm/api/app.py), `GET /api/me` lists the pages
the caller may open (the page shell draws its navigation from that list), and
the HTML 403/404 pages (wfm/api/errorpages.py) show the same navigation.
"""
from __future__ import annotations

from dataclasses import dataclass

from wfm.api.security import Access, check_access
from wfm.auth import Account


@dataclass(frozen=True)
class Page:
    path: str
    title: str  # bilingual, as in the navigation bar
    access: Access
    needs_agent: bool = False  # listed only for accounts that are an agent (their own page)


PAGES: tuple[Page, ...] = (
    Page("/wall", "Wall 大屏", Access.KIOSK),
    Page("/me", "My breaks 我的休息", Access.SESSION, needs_agent=True),
    Page("/supervisor", "Supervisor 主管", Access.ACTORS),
    Page("/roster", "Roster 排班", Access.READERS),
    Page("/reports", "Reports 报表", Access.READERS),
)


def page_access() -> dict[str, Access]:
    """path → access level of every page (the route table of the Dash pages)."""
    return {page.path: page.access for page in PAGES}


def pages_for(account: Account | None) -> list[Page]:
    """The pages `account` may open (None: not signed in), in navigation order."""
    agent = account.agent if account is not None else None
    return [page for page in PAGES
            if check_access(page.access, account, agent) is None and (agent or not page.needs_agent)]
