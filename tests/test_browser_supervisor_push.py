"""/supervisor in a browser against a real `wfm demo`: the floor part is drawn from the floor the WebSocket
pushes and adherence is fetched again when a pushed floor shows its events were logged (issue 14 point 2) — nobody asks
GET /api/floor, not the browser and not the page server on its behalf (the demo's access log, `-v`,
says so); a silent socket marks the page STALE and a closed one reconnects and draws the floor again.

The quiet floor of tests/test_browser_me_queue.py (six simulated agents, no calls, no breaks of their
own): a supervisor puts 1003 on a short break over the API and ends it; the page shows both. Headless
Debian chromium + chromedriver via Selenium (conftest require_tool: skipped without them, failing under
CI=true).
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from support.browser import headless_chromium, text_of, wait_for
from test_browser_demo import login, running_demo
from test_browser_me_queue import override, state_of, write_config

pytestmark = pytest.mark.live

def access_lines(folder: Path, path: str) -> list[str]:
    """The demo's access-log lines asking for `path` (aiohttp.access at -v: remote, user, method, path, status)."""
    text = (folder / "demo.stderr").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if "aiohttp.access" in line and f" {path} " in line]


def breaks_text(browser) -> str:
    return text_of(browser, "#sup-breaks")


def test_supervisor_page_is_pushed_not_polled_and_marks_a_silent_socket_stale(tmp_path):
    from selenium.webdriver.common.by import By

    with running_demo(tmp_path, write_config(tmp_path), args=("-v",)) as base, headless_chromium() as browser:
        wait_for(lambda: all(state_of(base, a) == "ready" for a in ("1001", "1002", "1003")), timeout=30)
        token = requests.post(base + "/api/login", json={"username": "supervisor", "password": "supervisor"},
                              timeout=5).json()["token"]
        supervisor = {"Authorization": "Bearer " + token}
        login(browser, base, "supervisor", "/supervisor")
        wait_for(lambda: "Idle agents" in text_of(browser, "#sup-summary"))
        assert "1003" not in breaks_text(browser)
        adherence_before = len(access_lines(tmp_path, "/api/adherence"))
        assert adherence_before >= 1  # fetched as the page was drawn

        override(base, supervisor, "allow_break", "1003")
        wait_for(lambda: state_of(base, "1003") == "short_break", timeout=20)
        row = wait_for(lambda: (lambda text: text if "1003" in text else "")(breaks_text(browser)), timeout=10)
        assert "小休" in row, row
        # pushed, not polled: no GET /api/floor from the browser, nor from the page server for it
        assert access_lines(tmp_path, "/api/floor") == []
        resources = browser.execute_script(
            "return performance.getEntriesByType('resource').map(function (e) { return e.name; });")
        assert not [name for name in resources if "/api/floor" in name], resources
        pushes, handed = browser.execute_script("return [window.wfmSupervisor.pushes, window.wfmSupervisor.handed];")
        assert pushes >= handed >= 2, (pushes, handed)
        # the pushed floor showed 1003's state changed (its event was logged): adherence was fetched again
        wait_for(lambda: len(access_lines(tmp_path, "/api/adherence")) > adherence_before, timeout=12)
        assert browser.execute_script("return window.wfmSupervisor.adherenceBumps;") >= 1
        # a still floor (nobody's state or shift changes): not fetched again every 5 s, as the polling page did
        still = len(access_lines(tmp_path, "/api/adherence"))
        time.sleep(7)
        assert len(access_lines(tmp_path, "/api/adherence")) == still

        # a silent socket: STALE within dashboard.wall_stale_s (2 s here), the floor part greyed
        browser.execute_script("window.__silenced = window.wfmSupervisor.ws;"
                               "window.wfmSupervisor.ws.onmessage = function () {};")
        wait_for(lambda: "STALE" in text_of(browser, "#sup-live"), timeout=10)
        assert "stale" in browser.find_element(By.ID, "sup-root").get_attribute("class")
        # closed: it reconnects, the marker goes, and the new socket's pushes draw the break's end
        browser.execute_script("window.__silenced.close();")
        wait_for(lambda: browser.execute_script(
            "var s = window.wfmSupervisor; return s.ws !== null && s.ws !== window.__silenced && s.ws.readyState === 1;"),
            timeout=15)
        wait_for(lambda: not text_of(browser, "#sup-live"), timeout=5)
        assert "stale" not in browser.find_element(By.ID, "sup-root").get_attribute("class")
        override(base, supervisor, "end_break", "1003")
        wait_for(lambda: "1003" not in breaks_text(browser), timeout=10)
        assert access_lines(tmp_path, "/api/floor") == []
