"""Headless Debian Chromium for the browser tests: the driver, polling until a condition holds, element text.

The tool check is conftest's `require_tool`: skipped on a developer machine without chromium and
chromedriver, failing under CI=true.
"""
from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

from conftest import require_tool

CHROMIUM_ARGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1920,1080")


@contextlib.contextmanager
def headless_chromium(*, console_log: bool = False) -> Iterator[Any]:
    """A Selenium driver on a fresh profile, quit and its profile removed afterwards; `console_log` keeps the page's console."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    tools = require_tool("chromium", "chromedriver")
    profile = tempfile.mkdtemp(prefix="wfm-chromium-")
    options = webdriver.ChromeOptions()
    for arg in (*CHROMIUM_ARGS, f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.binary_location = tools["chromium"]
    if console_log:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(tools["chromedriver"]), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, step: float = 0.1) -> Any:
    """The predicate's first truthy value within `timeout` s; AssertionError naming its last value otherwise."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as exc:  # the element may be re-rendered between lookups
            last = exc
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s (last: {last!r})")


def text_of(driver: Any, css: str) -> str:
    """The element's text; "" while React swaps it (a stale or not-yet-there element)."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        return str(driver.find_element(By.CSS_SELECTOR, css).text)
    except (NoSuchElementException, StaleElementReferenceException):
        return ""
