"""demand_from_history (the roster's --forecast entry), demand.csv and the forecast chart."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from optimizer.charts import forecast_figure
from optimizer.demand import covered_interval_starts, demand_from_forecast, demand_from_history, write_demand_csv
from optimizer.staffing import StaffingTarget, staff_interval
from wfm.cli import main
from wfm.config import default_data, from_data, merge

BANK = "sample_data/history/bank_calls.csv"


def config_with(**forecast):
    return from_data(merge(default_data(), {"forecast": forecast}))


@pytest.fixture(scope="module")
def bank_demand():
    return demand_from_history(BANK, "2003-11", config_with(volume_scale=0.08))


def test_demand_from_history_shape_and_types(bank_demand):
    assert list(bank_demand.columns) == ["date", "interval_start", "required"]
    assert bank_demand["date"].str.match(r"^2003-11-\d\d$").all()
    assert bank_demand["interval_start"].str.match(r"^\d\d:\d\d$").all()
    assert bank_demand["required"].dtype.kind == "i" and (bank_demand["required"] >= 0).all()
    assert not bank_demand.duplicated(["date", "interval_start"]).any()
    assert 10 <= bank_demand["required"].max() <= 30  # scaled onto the 60-agent floor


def test_demand_is_clipped_to_shift_hours(bank_demand):
    # the bank opens at 07:00, the default shifts at 08:30
    assert bank_demand["interval_start"].min() == "08:30"
    unclipped = demand_from_history(BANK, "2003-11", config_with(volume_scale=0.08, clip_to_shifts=False))
    assert unclipped["interval_start"].min() == "07:00" and len(unclipped) > len(bank_demand)


def test_required_is_the_erlang_c_answer_per_row():
    forecast = pd.DataFrame({"date": ["2027-01-04"] * 3, "interval_start": ["08:30", "09:00", "09:30"],
                             "calls": [100.0, 0.0, 250.0], "aht_s": [180.0, 180.0, 240.0]})
    target = StaffingTarget(service_level=0.8, answer_s=20, max_occupancy=0.85, shrinkage=0.3)
    demand = demand_from_forecast(forecast, target, 30)
    assert demand["required"].tolist() == [staff_interval(c, 30, a, target).agents for c, a in zip(forecast.calls, forecast.aht_s)]
    assert demand["required"].tolist()[0] == 14 and demand["scheduled"].tolist()[0] == 20


def test_covered_starts_handle_midnight():
    config = from_data(merge(default_data(), {"roster": {"shifts": [{"name": "late", "start": "17:30", "end": "01:00"}]}}))
    starts = covered_interval_starts(config.roster.shifts, 30)
    assert "17:30" in starts and "00:30" in starts and "01:00" not in starts and "17:00" not in starts


def test_write_demand_csv_header_exact(tmp_path, bank_demand):
    path = tmp_path / "demand.csv"
    write_demand_csv(path, bank_demand)
    text = path.read_text().splitlines()
    assert text[0] == "date,interval_start,required" and len(text) == len(bank_demand) + 1


def test_cli_forecast_writes_demand_and_chart(tmp_path, capsys):
    demand, chart = tmp_path / "demand.csv", tmp_path / "chart.html"
    code = main(["forecast", "--config", "sample_data/history/bank_floor.toml", "--history", BANK, "--month", "2003-11",
                 "--demand", str(demand), "--chart", str(chart), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["demand"]["rows"] == len(pd.read_csv(demand))
    assert chart.read_text().count("<div") >= 1 and "Required on post" in chart.read_text()


def test_forecast_figure_is_pure_and_has_three_traces():
    idx = pd.date_range("2027-01-04 08:30", periods=4, freq="30min")
    history = pd.DataFrame({"calls": [5.0, 6, 7, 8]}, index=idx)
    forecast = pd.DataFrame({"date": ["2027-02-01"] * 2, "interval_start": ["08:30", "09:00"], "calls": [5.0, 9.0]})
    demand = forecast.assign(required=[3, 4])
    fig = forecast_figure(history, forecast, demand)
    assert [t.name for t in fig.data] == ["History (历史)", "Forecast (预测)", "Required on post (在席需求)"]
    assert list(fig.data[2].y) == [3, 4]
    no_demand = forecast_figure(None, forecast)
    assert len(no_demand.data) == 1
