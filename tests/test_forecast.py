"""History reading (validation, aggregation), forecast models, backtest choice and `wfm forecast`."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from optimizer.forecast import Calendar, HistoryError, forecast_month, read_history, to_panel
from optimizer.forecast.backtest import backtest, mape, wape
from optimizer.forecast.models import MODELS
from wfm.cli import main

TZ = ZoneInfo("Asia/Shanghai")
BANK = "sample_data/history/bank_calls.csv"


def synthetic_history(path, weeks=10, resolution=30, trend=0.0, seed=5, closed=(), with_aht=False, noise=True):
    """Mon-Sat 09:00-18:00; Monday busiest; calls Poisson around a known profile."""
    rng = np.random.default_rng(seed)
    lines = ["timestamp,calls" + (",aht_s" if with_aht else "")]
    start = date(2026, 1, 5)  # a Monday
    for d in range(weeks * 7):
        day = start + timedelta(days=d)
        if day.weekday() == 6 or day in closed:
            continue
        level = (1.5 if day.weekday() == 0 else 1.0) * (1 + trend * d)
        t = datetime(day.year, day.month, day.day, 9, 0)
        while t.hour < 18:
            hour = t.hour + t.minute / 60
            mean = level * (20 + 30 * np.exp(-((hour - 11) ** 2) / 2)) * resolution / 30
            calls = rng.poisson(mean) if noise else round(mean, 6)
            row = f"{t:%Y-%m-%dT%H:%M:%S},{calls}" + (f",{200 if t.hour < 12 else 100}" if with_aht else "")
            lines.append(row)
            t += timedelta(minutes=resolution)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_five_minute_rows_are_summed_into_30_minute_intervals(tmp_path):
    history = read_history(synthetic_history(tmp_path / "h.csv", weeks=1, resolution=5, noise=False), TZ)
    assert history.resolution_min == 5
    first = history.frame.iloc[0]
    assert history.frame.index[0] == pd.Timestamp("2026-01-05 09:00")
    mean5 = 1.5 * (20 + 30 * np.exp(-((np.arange(9, 9.5, 5 / 60) - 11) ** 2) / 2)) / 6
    assert first["calls"] == pytest.approx(mean5.sum(), rel=1e-6)
    assert history.intervals[0] == "09:00" and history.intervals[-1] == "17:30"


def test_aht_is_call_weighted_per_interval(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("timestamp,calls,aht_s\n2026-01-05T09:00:00,10,100\n2026-01-05T09:15:00,30,200\n", encoding="utf-8")
    frame = read_history(path, TZ).frame
    assert frame.iloc[0]["calls"] == 40 and frame.iloc[0]["aht_s"] == pytest.approx(175.0)


def test_offsets_are_converted_to_the_floor_zone(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("timestamp,calls\n2026-01-05T01:00:00Z,10\n2026-01-05T01:30:00Z,5\n", encoding="utf-8")
    assert read_history(path, TZ).frame.index[0] == pd.Timestamp("2026-01-05 09:00")


@pytest.mark.parametrize(
    "body,fragment",
    [
        ("2026-01-05T09:00:00,-1\n", ":2: field 'calls': negative"),
        ("2026-01-05T09:00:00,1\n2026-01-05T09:00:00,2\n", ":3: field 'timestamp': duplicate"),
        ("2026-01-05T09:00:00,1\n2026-01-05T09:30:00,1\n2026-01-05T10:30:00,1\n", ":4: field 'timestamp': gap"),
        ("yesterday,1\n", ":2: field 'timestamp': not an ISO 8601"),
        ("2026-01-05T09:00:00,1\n2026-01-05T09:30:00,x\n", ":3: field 'calls': not a number"),
        ("2026-01-05T09:30:00,1\n2026-01-05T09:00:00,1\n", ":3: field 'timestamp': out of order"),
        ("2026-01-05T09:00:00,1\n2026-01-05T09:30:00,1\n2026-01-05T09:45:00,1\n", ":3: field 'timestamp': gap"),
    ],
)
def test_bad_history_names_file_line_and_field(tmp_path, body, fragment):
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,calls\n" + body, encoding="utf-8")
    with pytest.raises(HistoryError) as err:
        read_history(path, TZ)
    assert fragment in str(err.value) and str(path) in str(err.value)


def test_missing_days_are_closed_days_not_gaps(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("timestamp,calls\n2026-01-05T09:00:00,1\n2026-01-07T09:00:00,1\n", encoding="utf-8")
    assert len(read_history(path, TZ).frame) == 2


def test_profile_recovers_weekday_profile_and_closed_sunday(tmp_path):
    history = read_history(synthetic_history(tmp_path / "h.csv", noise=False), TZ)
    result = forecast_month(history, "2026-04", Calendar(), backtest_weeks=2, default_aht_s=180, model="profile")
    frame = result.frame
    assert not any(d.weekday() == 6 for d in frame["date"])  # Sunday never open
    monday = frame.loc[(frame["date"] == date(2026, 4, 6)) & (frame["interval_start"] == "11:00"), "calls"].item()
    tuesday = frame.loc[(frame["date"] == date(2026, 4, 7)) & (frame["interval_start"] == "11:00"), "calls"].item()
    assert monday == pytest.approx(1.5 * 50, rel=0.01) and tuesday == pytest.approx(50, rel=0.01)
    assert set(frame["aht_s"]) == {180.0}


def test_trend_is_extrapolated_but_capped(tmp_path):
    history = read_history(synthetic_history(tmp_path / "h.csv", trend=0.01, noise=False), TZ)
    cal = Calendar(trend_max_weeks=4)
    near = forecast_month(history, "2026-03", cal, 2, 180, model="seasonal_regression").frame
    far = forecast_month(history, "2026-12", cal, 2, 180, model="seasonal_regression").frame
    tue = near.loc[near["date"].map(lambda d: d.weekday() == 1)].groupby("date")["calls"].sum()
    assert tue.iloc[-1] > tue.iloc[0]  # grows through March
    far_tue = far.loc[far["date"].map(lambda d: d.weekday() == 1)].groupby("date")["calls"].sum()
    assert far_tue.nunique() == 1  # frozen after trend_max_weeks
    assert far_tue.iloc[0] < tue.iloc[0] * 1.5


def test_backtest_beats_seasonal_naive_on_noisy_series(tmp_path):
    panel = to_panel(read_history(synthetic_history(tmp_path / "h.csv", weeks=12), TZ))
    result = backtest(panel, Calendar(), weeks=2)
    naive = result.score("seasonal_naive")
    chosen = result.score(result.chosen)
    assert result.chosen != "seasonal_naive" and chosen.wape < naive.wape
    assert {s.model for s in result.scores} == set(MODELS)


def test_closed_holiday_in_history_forecasts_zero_on_target_holiday(tmp_path):
    holiday = date(2026, 2, 3)
    history = read_history(synthetic_history(tmp_path / "h.csv", closed={holiday}, noise=False), TZ)
    target = date(2026, 4, 7)
    cal = Calendar(holidays=frozenset({holiday, target}))
    frame = forecast_month(history, "2026-04", cal, 2, 180, model="profile").frame
    assert frame.loc[frame["date"] == target, "calls"].sum() == 0
    assert frame.loc[frame["date"] == date(2026, 4, 14), "calls"].sum() > 0


def test_without_holidays_a_closed_day_is_not_zero(tmp_path):
    holiday = date(2026, 2, 3)
    history = read_history(synthetic_history(tmp_path / "h.csv", closed={holiday}, noise=False), TZ)
    frame = forecast_month(history, "2026-04", Calendar(), 2, 180, model="profile").frame
    assert frame.loc[frame["date"] == date(2026, 4, 7), "calls"].sum() > 0


def test_history_aht_is_profiled(tmp_path):
    history = read_history(synthetic_history(tmp_path / "h.csv", with_aht=True), TZ)
    frame = forecast_month(history, "2026-04", Calendar(), 2, 180).frame
    assert set(frame.loc[frame["interval_start"] == "09:00", "aht_s"].round(6)) == {200.0}
    assert set(frame.loc[frame["interval_start"] == "15:00", "aht_s"].round(6)) == {100.0}


def test_metrics():
    a, f = np.array([10.0, 0.0, 30.0]), np.array([12.0, 1.0, 27.0])
    assert wape(a, f) == pytest.approx(6 / 40)
    assert mape(a, f) == pytest.approx((0.2 + 0.1) / 2)


def test_cli_forecast_bank_calls_json(tmp_path, capsys):
    out = tmp_path / "fc.csv"
    code = main(["forecast", "--history", BANK, "--month", "2003-11", "--out", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 0
    summary = json.loads(captured.out)
    assert summary["wape"] < summary["baseline_wape"] and summary["model"] != "seasonal_naive"
    assert summary["backtest"]["held_out_days"] >= 8
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["date", "interval_start", "calls", "aht_s"]
    assert frame["date"].str.startswith("2003-11").all() and (frame["calls"] >= 0).all()
    assert not pd.to_datetime(frame["date"]).dt.day_of_week.isin([5, 6]).any()  # the bank is closed at weekends


def test_cli_forecast_short_history_is_bad_input(tmp_path, capsys):
    path = synthetic_history(tmp_path / "short.csv", weeks=3)
    code = main(["forecast", "--history", str(path), "--month", "2026-02", "--json"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == "" and "weeks of history" in captured.err


def test_cli_forecast_bad_month(capsys):
    assert main(["forecast", "--history", BANK, "--month", "2003-13"]) == 2
    assert "--month" in capsys.readouterr().err


# --- month-ahead use: cutoffs, rolling-origin choice, holidays (issue 17) ---

BANK_FLOOR = "sample_data/history/bank_floor.toml"


@pytest.fixture(scope="module")
def bank():
    return read_history(BANK, TZ)


def test_month_starting_before_the_history_ends_with_holt_winters_does_not_crash(bank):
    # was KeyError in HoltWinters.predict: history to 2003-10-10, --month 2003-10
    result = forecast_month(bank, "2003-10", Calendar(), 2, 180, model="holt_winters", cutoff=date(2003, 10, 10))
    frame = result.frame
    assert result.model == "holt_winters" and result.cutoff == date(2003, 10, 10)
    assert sorted(set(frame["date"])) == [d for d in (date(2003, 10, n) for n in range(1, 32)) if d.weekday() < 5]
    actual = to_panel(bank)
    oct9 = frame.loc[frame["date"] == date(2003, 10, 9)].set_index("interval_start")["calls"]
    assert (oct9 == actual.loc[date(2003, 10, 9)]).all()  # days up to the cutoff are the history's own
    assert frame.loc[frame["date"] > date(2003, 10, 10), "calls"].sum() > 0


@pytest.mark.parametrize("model", ["holt_winters", "seasonal_regression", "regression_weekday_mean", "weekday_mean", "profile", "seasonal_naive"])
def test_every_model_forecasts_a_month_the_history_runs_into(bank, model):
    result = forecast_month(bank, "2003-10", Calendar(), 2, 180, model=model)  # history ends 2003-10-24
    days = set(result.frame["date"])
    assert date(2003, 10, 31) in days and date(2003, 10, 24) in days
    assert len(result.history_days) == 24


def test_mid_month_cutoff_never_looks_past_the_cutoff(tmp_path, bank):
    # the same history with every day after the cutoff multiplied by ten gives the very same forecast
    cutoff = date(2003, 9, 17)  # a Wednesday
    text = Path(BANK).read_text(encoding="utf-8").splitlines()
    changed = [text[0]] + [
        f"{ts},{int(calls) * 10 if date.fromisoformat(ts[:10]) > cutoff else calls}" for ts, calls in (line.split(",") for line in text[1:])
    ]
    other = tmp_path / "bank_after_cutoff_x10.csv"
    other.write_text("\n".join(changed) + "\n", encoding="utf-8")
    kwargs = dict(cutoff=cutoff, history_country="US", target_country="US")
    one = forecast_month(bank, "2003-10", Calendar(), 2, 180, **kwargs)
    two = forecast_month(read_history(other, TZ), "2003-10", Calendar(), 2, 180, **kwargs)
    pd.testing.assert_frame_equal(one.frame, two.frame)
    assert one.model == two.model and one.backtest.scores == two.backtest.scores
    assert max(one.backtest.origins) < cutoff and one.backtest.held_out_to <= cutoff
    assert one.history_days == ()  # the month starts after the cutoff: all of it is forecast
    mid = forecast_month(bank, "2003-09", Calendar(), 2, 180, **kwargs)
    assert max(mid.history_days) == cutoff and min(d for d in mid.frame["date"] if d > cutoff) == date(2003, 9, 18)


def test_rolling_origins_replay_the_month_ahead_use(bank):
    result = forecast_month(bank, "2003-11", Calendar(), 2, 180, backtest_origins=3)
    bt = result.backtest
    # lead 7 days (Oct 24 -> Nov 1 ... the first target day is 8 days out), horizon Nov 1..30: origins 28 days apart
    assert len(bt.origins) == 3 and [(a - b).days for a, b in zip(bt.origins, bt.origins[1:])] == [28, 28]
    assert bt.origins[0] == date(2003, 10, 24) - timedelta(days=8 + 30 - 1)
    assert {s.model for s in bt.scores} >= {"seasonal_naive", "weekday_mean", "regression_weekday_mean"}
    assert result.model == "regression_weekday_mean"  # chosen among forecast.candidates only; baselines scored beside


def test_choice_is_the_lowest_backtest_wape_among_the_candidates(bank):
    candidates = ("seasonal_naive", "weekday_mean", "seasonal_regression")
    result = forecast_month(bank, "2003-11", Calendar(), 2, 180, candidates=candidates)
    best = min((s for s in result.backtest.scores if s.model in candidates), key=lambda s: s.wape)
    assert result.model == best.model


def test_weekday_mean_is_the_mean_of_the_last_four_same_weekdays(bank):
    panel = to_panel(bank).loc[lambda p: [d <= date(2003, 9, 30) for d in p.index]]
    forecast = MODELS["weekday_mean"].predict(panel, [date(2003, 10, 7)], Calendar())
    tuesdays = [date(2003, 9, 9), date(2003, 9, 16), date(2003, 9, 23), date(2003, 9, 30)]
    assert np.allclose(forecast.loc[date(2003, 10, 7)].to_numpy(), panel.loc[tuesdays].mean(axis=0).to_numpy())


def test_thanksgiving_is_closed_from_the_us_calendar_and_the_history(bank):
    us = forecast_month(bank, "2003-11", Calendar(), 2, 180, history_country="US", target_country="US")
    assert date(2003, 11, 27) in us.closed_days
    thursday = us.frame.loc[us.frame["date"] == date(2003, 11, 27), "calls"]
    assert len(thursday) > 0 and thursday.sum() == 0  # a row of zeros: closed, not missing
    assert us.frame.loc[us.frame["date"] == date(2003, 11, 20), "calls"].sum() > 0
    none = forecast_month(bank, "2003-11", Calendar(), 2, 180)
    assert none.frame.loc[none.frame["date"] == date(2003, 11, 27), "calls"].sum() > 0


def test_a_holiday_the_history_shows_open_is_forecast_open(tmp_path):
    # the same name open last year wins over the majority of closed holidays
    holiday, target = date(2026, 2, 3), date(2026, 4, 7)
    history = read_history(synthetic_history(tmp_path / "h.csv", noise=False), TZ)
    cal = Calendar(holidays=frozenset({holiday, target}), names=((holiday, "Founders Day"), (target, "Founders Day")))
    result = forecast_month(history, "2026-04", cal, 2, 180, model="profile")
    assert result.closed_days == () and result.frame.loc[result.frame["date"] == target, "calls"].sum() > 0


def test_without_history_evidence_a_holiday_is_closed_unless_configured(tmp_path):
    history = read_history(synthetic_history(tmp_path / "h.csv", noise=False), TZ)
    target = date(2026, 4, 7)
    cal = Calendar(holidays=frozenset({target}))
    closed = forecast_month(history, "2026-04", cal, 2, 180, model="profile")
    opened = forecast_month(history, "2026-04", cal, 2, 180, model="profile", holiday_closed_without_history=False)
    assert closed.closed_days == (target,) and opened.closed_days == ()
    assert opened.frame.loc[opened.frame["date"] == target, "calls"].sum() > 0


def test_closed_days_are_found_in_the_history(bank):
    result = forecast_month(bank, "2003-11", Calendar(), 2, 180, history_country="US", target_country="US")
    found = {c.day: c.holiday for c in result.history_closed}
    assert found[date(2003, 4, 4)] is None and found[date(2003, 10, 14)] is None  # closed, no holiday known
    assert found[date(2003, 5, 26)] == "Memorial Day" and found[date(2003, 9, 1)] == "Labor Day"
    assert date(2003, 10, 13) not in found  # Columbus Day: a holiday, but the bank was open


def test_cli_forecast_bank_floor_mid_month_cutoff(tmp_path, capsys):
    out = tmp_path / "fc.csv"
    code = main(["forecast", "--config", BANK_FLOOR, "--history", BANK, "--month", "2003-10", "--cutoff", "2003-10-10",
                 "--model", "holt_winters", "--out", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out)
    assert summary["cutoff"] == "2003-10-10" and len(summary["days_from_history"]) == 10
    assert {"date": "2003-07-04", "holiday": "Independence Day"} in summary["history_closed_days"]
    assert set(summary["backtest"]["scores"]) >= {"seasonal_naive", "weekday_mean"}
    assert "forecast" in captured.err  # tqdm progress on the terminal


def test_cli_forecast_thanksgiving_closed_with_bank_floor(tmp_path, capsys):
    out = tmp_path / "fc.csv"
    assert main(["forecast", "--config", BANK_FLOOR, "--history", BANK, "--month", "2003-11", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert "2003-11-27" in summary["closed_days"]
    frame = pd.read_csv(out)
    assert frame.loc[frame["date"] == "2003-11-27", "calls"].sum() == 0


def test_cli_forecast_bad_cutoff(capsys):
    assert main(["forecast", "--history", BANK, "--month", "2003-11", "--cutoff", "2003-13-01"]) == 2
    assert "--cutoff" in capsys.readouterr().err


def test_cli_history_ending_mid_month_with_holt_winters_is_the_issue_repro(tmp_path, capsys):
    # issue 17: history to 2003-10-10, --month 2003-10, Holt-Winters chosen -> KeyError, exit 1
    lines = Path(BANK).read_text(encoding="utf-8").splitlines()
    short = tmp_path / "bank_to_2003-10-10.csv"
    short.write_text("\n".join([lines[0]] + [line for line in lines[1:] if line[:10] <= "2003-10-10"]) + "\n", encoding="utf-8")
    out = tmp_path / "fc.csv"
    code = main(["forecast", "--history", str(short), "--month", "2003-10", "--model", "holt_winters", "--out", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["cutoff"] == "2003-10-10"
    frame = pd.read_csv(out)
    assert frame["date"].max() == "2003-10-31" and frame.loc[frame["date"] > "2003-10-10", "calls"].sum() > 0


def test_cli_cutoff_before_the_history_is_bad_input(capsys):
    assert main(["forecast", "--history", BANK, "--month", "2003-11", "--cutoff", "2002-01-01", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "no history on or before the cutoff 2002-01-01" in captured.err


def test_cli_unknown_candidate_in_config_names_the_key(tmp_path, capsys):
    site = tmp_path / "site.toml"
    site.write_text('[forecast]\ncandidates = ["prophet"]\n', encoding="utf-8")
    assert main(["forecast", "--config", str(site), "--history", BANK, "--month", "2003-11", "--json"]) == 2
    err = capsys.readouterr().err
    assert err.rstrip("\n").split("\n")[-1].split("\r")[-1].startswith("wfm forecast: forecast.candidates: unknown model(s) prophet")


def test_cli_unknown_model_is_bad_usage(capsys):
    assert main(["forecast", "--history", BANK, "--month", "2003-11", "--model", "prophet"]) == 2
    assert "unknown forecast model 'prophet'" in capsys.readouterr().err
