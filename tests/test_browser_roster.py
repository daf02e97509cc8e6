"""The scheduler's month in headless Chromium against a real `wfm demo` (API, solver, versions on disk).

Demand is sized before solving (and the solve refused with the numbers when it
exceeds the floor), publishing unmet demand needs a confirmation and a reason,
old versions open and download, a cell edit is checked and saved as a new
version, and every agent row of the grid carries its label. Skipped without
chromium/chromedriver on a developer machine, failing under CI=true.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from test_browser_demo import browser, dash_errors, demo, login, screenshot, set_field, text_of, wait_for  # noqa: F401

pytestmark = pytest.mark.live

MONTH = "2027-02"


def _month_ahead() -> str:
    """The month after today's in the floor's zone: /me offers it first, and it is never in the past."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    return f"{today.year + (today.month == 12)}-{today.month % 12 + 1:02d}"


MONTH_AHEAD = _month_ahead()


def grid_labels(driver) -> list[str]:
    """The y-axis tick labels Plotly drew for the roster grid."""
    from selenium.webdriver.common.by import By

    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#roster-grid .yaxislayer-above .ytick text")]


def choose(driver, dropdown_id: str, text: str) -> None:
    """Pick the option of a dcc.Dropdown (Dash 4: a button opening a searchable list) whose label starts with text.

    Tried again until the dropdown shows it: a callback may redraw the list under the pointer.
    """
    from selenium.webdriver.common.by import By

    def attempt() -> bool:
        if not driver.find_elements(By.CSS_SELECTOR, ".dash-dropdown-search"):
            driver.find_element(By.ID, dropdown_id).click()
        search = driver.find_element(By.CSS_SELECTOR, ".dash-dropdown-search")
        search.clear()
        search.send_keys(text.strip())
        next(o for o in driver.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option") if o.text.startswith(text)).click()
        time.sleep(0.3)
        return text.strip() in driver.find_element(By.ID, dropdown_id).text

    wait_for(attempt, timeout=30, step=0.3)
    wait_for(lambda: not driver.find_elements(By.CSS_SELECTOR, ".dash-dropdown-search"))


def click_cell(driver, row: int, column: int, rows: int, columns: int) -> None:
    """Click the middle of one cell of the roster grid (Plotly's drag layer spans the cells)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    layer = driver.find_element(By.CSS_SELECTOR, "#roster-grid .nsewdrag")
    size = layer.size
    x = (column + 0.5) * size["width"] / columns - size["width"] / 2
    y = (row + 0.5) * size["height"] / rows - size["height"] / 2
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", layer)
    ActionChains(driver).move_to_element_with_offset(layer, int(x), int(y)).click().perform()


def wait_download(folder: Path, name: str, timeout: float = 20.0) -> Path:
    path = folder / name
    wait_for(lambda: path.exists() and path.stat().st_size > 0, timeout=timeout)
    return path


def test_publish_with_unmet_demand_needs_a_reason_old_versions_download_and_a_cell_edit_is_checked(  # noqa: F811
        demo, browser, artifacts, tmp_path):  # noqa: F811 (the module's fixtures, imported above)
    from selenium.webdriver.common.by import By

    agents = tmp_path / "agents.csv"
    agents.write_text("agent_id,name\n" + "".join(f"{3000 + i},Agent {i}\n" for i in range(8)), encoding="utf-8")
    demand = tmp_path / "demand.csv"
    demand.write_text("date,interval_start,required\n" + "".join(
        f"{MONTH}-{d:02d},{slot},5\n" for d in range(1, 29) for slot in ("09:00", "16:30")), encoding="utf-8")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    login(browser, demo, "scheduler", "/roster")
    browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    wait_for(lambda: browser.find_elements(By.ID, "roster-solve"))
    browser.find_element(By.CSS_SELECTOR, "#roster-source input[value=upload]").click()
    browser.find_element(By.CSS_SELECTOR, "#roster-agents input[type=file]").send_keys(str(agents))
    browser.find_element(By.CSS_SELECTOR, "#roster-demand input[type=file]").send_keys(str(demand))
    set_field(browser.find_element(By.ID, "roster-month"), MONTH)
    set_field(browser.find_element(By.ID, "roster-time"), "600")  # a guard (deterministic budget, write_config)
    wait_for(lambda: "✓" in text_of(browser, "#roster-demand"))

    # told before solving, with the numbers: 5 on post at 09:00 and 5 at 16:30 need 10 at work, 8 agents give about 7
    browser.find_element(By.ID, "roster-solve").click()
    wait_for(lambda: text_of(browser, "#roster-not-started"), timeout=30)
    capacity = text_of(browser, "#roster-capacity-text")
    assert "peak demand 5 agents on post" in capacity and "needs at least 10 agents at work" in capacity
    assert "about 7 at work a day" in capacity
    browser.find_element(By.CSS_SELECTOR, "#roster-accept-unmet input").click()
    browser.find_element(By.ID, "roster-solve").click()
    wait_for(lambda: text_of(browser, "#roster-done") or text_of(browser, "#roster-failed")
             or text_of(browser, "#roster-error"), timeout=90)
    assert "draft version 1" in text_of(browser, "#roster-done"), text_of(browser, "#roster-failed")
    summary = text_of(browser, "#roster-summary")
    assert "not covered" in summary and "objective" not in summary and "bound" not in summary

    # every agent row labelled; the legend names the codes
    wait_for(lambda: len(grid_labels(browser)) == 8, timeout=20)
    assert grid_labels(browser) == [f"{3000 + i} Agent {i}" for i in range(8)]
    legend = text_of(browser, "#roster-legend")
    assert "D" in legend and "day 08:30–16:00" in legend and "evening 16:00–23:30" in legend and "休" in legend
    assert "Agent 0" in text_of(browser, "#roster-totals")

    # the publish gate: unmet demand needs the confirmation and a reason
    wait_for(lambda: "unmet" in text_of(browser, "#roster-gate-headline"))
    browser.find_element(By.ID, "roster-publish").click()
    refused = wait_for(lambda: text_of(browser, "#roster-publish-refused"))
    assert "confirm and give a reason" in refused
    browser.find_element(By.CSS_SELECTOR, "#roster-publish-confirm input").click()
    browser.find_element(By.ID, "roster-publish").click()
    time.sleep(1.0)
    assert not text_of(browser, "#roster-published")  # confirmed, but no reason yet
    browser.find_element(By.ID, "roster-publish-reason").send_keys("February short-staffed; agreed with ops")
    browser.find_element(By.ID, "roster-publish").click()
    published = wait_for(lambda: text_of(browser, "#roster-published"))
    assert "version 1 published" in published and "by scheduler" in published and "agreed with ops" in published
    wait_for(lambda: "agreed with ops" in text_of(browser, "#roster-versions-table"))

    # one cell edited: picked by a click on the grid; the checker answers, a new draft version with a one-cell diff
    def picked() -> bool:  # the grid may be redrawn under the pointer once (the version list refreshed)
        click_cell(browser, row=0, column=2, rows=8, columns=28)
        time.sleep(0.5)
        return browser.find_element(By.ID, "edit-day").get_attribute("value") == f"{MONTH}-03"

    wait_for(picked, timeout=30, step=0.5)
    assert "3000 Agent 0" in text_of(browser, "#edit-agent")
    for shift in ("OFF", "day"):
        choose(browser, "edit-shift", shift)
        browser.find_element(By.ID, "roster-edit").click()
        answer = wait_for(lambda: text_of(browser, "#roster-edited") or text_of(browser, "#roster-edit-refused"))
        if "nothing to change" not in answer:
            break
    assert "saved as draft version 2" in text_of(browser, "#roster-edited")
    assert text_of(browser, "#roster-edit-ok") or text_of(browser, "#roster-edit-violations")
    wait_for(lambda: "1 cell(s) changed against version 1" in text_of(browser, "#roster-diff"))

    # the old version opens and downloads (CSV, HTML, XLSX, ICS)
    choose(browser, "roster-version", "v1 ")
    wait_for(lambda: "Showing version 1 (published)" in text_of(browser, "#roster-shown"))
    assert len(grid_labels(browser)) == 8
    for button, name in (("roster-dl-csv", f"roster-{MONTH}-v1.csv"), ("roster-dl-html", f"roster-{MONTH}-v1.html"),
                         ("roster-dl-xlsx", f"roster-{MONTH}-v1.xlsx"), ("roster-dl-ics", f"roster-{MONTH}-v1-ics.zip")):
        browser.find_element(By.ID, button).click()
        wait_download(downloads, name)
    assert (downloads / f"roster-{MONTH}-v1.csv").read_text(encoding="utf-8").startswith(
        "agent_id,date,shift,start,end,meal_start")
    screenshot(browser, artifacts, "roster-versions", full_page=True)

    # a swap with a badly written date is refused in plain words
    for field, value in (("swap-a", "3000"), ("swap-b", "3001"), ("swap-day", "2027-2-5")):
        browser.find_element(By.ID, field).send_keys(value)
    browser.find_element(By.ID, "swap-approve").click()
    assert "write it as YYYY-MM-DD" in wait_for(lambda: text_of(browser, "#swap-error"))
    assert dash_errors(browser) == []


def test_an_agent_asks_for_a_rest_day_on_me_within_the_rulebook(demo, browser, artifacts):  # noqa: F811
    """Part 5: the request is the agent's own, limited by the rulebook, and reaches the scheduler's run (next test)."""
    from selenium.webdriver.common.by import By

    login(browser, demo, "1001", "/me")
    form = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#me-roster-requests summary"))
    form.click()
    assert browser.find_element(By.ID, "me-req-month").get_attribute("value") == MONTH_AHEAD
    wait_for(lambda: text_of(browser, "#me-req-none"))
    set_field(browser.find_element(By.ID, "me-req-date"), f"{MONTH_AHEAD}-7")
    browser.find_element(By.ID, "me-req-submit").click()
    assert "write it as YYYY-MM-DD" in wait_for(lambda: text_of(browser, "#me-req-refused"))
    set_field(browser.find_element(By.ID, "me-req-date"), f"{MONTH_AHEAD}-28")
    browser.find_element(By.ID, "me-req-submit").click()
    assert "rest on " + f"{MONTH_AHEAD}-28" in wait_for(lambda: text_of(browser, "#me-req-ok"))
    assert f"{MONTH_AHEAD}-28" in wait_for(lambda: text_of(browser, "#me-req-table"))
    assert dash_errors(browser) == []


def test_sample_forecast_path_is_sized_for_the_sixty_agent_floor_and_every_agent_is_labelled(  # noqa: F811
        demo, browser, artifacts):  # noqa: F811 (the module's fixtures, imported above)
    from selenium.webdriver.common.by import By

    login(browser, demo, "scheduler", "/roster")
    wait_for(lambda: browser.find_elements(By.ID, "roster-solve"))
    assert browser.find_element(By.CSS_SELECTOR, "#roster-source input[value=sample-forecast]").is_selected()
    wait_for(lambda: browser.find_element(By.ID, "roster-share").get_attribute("value") == "0.08")
    set_field(browser.find_element(By.ID, "roster-month"), MONTH_AHEAD)  # the month agent 1001 asked about
    browser.find_element(By.ID, "roster-check").click()
    fits = wait_for(lambda: text_of(browser, "#roster-capacity-text"), timeout=60)
    assert "Demand fits the floor" in fits and "a floor of 60" in fits
    browser.find_element(By.ID, "roster-whatif").click()
    table = wait_for(lambda: text_of(browser, "#roster-whatif-table"), timeout=60)
    assert "base 基准" in table and "AHT +20 s" in table and "5 fewer agents" in table
    set_field(browser.find_element(By.ID, "roster-time"), "600")  # a guard (deterministic budget, write_config)
    browser.find_element(By.ID, "roster-solve").click()
    wait_for(lambda: text_of(browser, "#roster-done") or text_of(browser, "#roster-failed"), timeout=120)
    assert text_of(browser, "#roster-done"), text_of(browser, "#roster-failed")
    wait_for(lambda: len(grid_labels(browser)) == 60, timeout=30)
    assert "of 1 honoured" in text_of(browser, "#roster-requests-summary")
    requests = text_of(browser, "#roster-requests")
    assert "1001" in requests and f"{MONTH_AHEAD}-28" in requests and "no roster yet" not in requests
    labels = grid_labels(browser)
    assert labels[0].startswith("1001 ") and len(set(labels)) == 60
    assert browser.find_elements(By.CSS_SELECTOR, "#roster-coverage .main-svg")
    screenshot(browser, artifacts, "roster", full_page=True)
    assert dash_errors(browser) == []
