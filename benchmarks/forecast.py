"""Forecast benchmark: WAPE / MAPE of every model vs seasonal-naive on held-out weeks of the real bank_calls series.

    .venv/bin/python benchmarks/forecast.py [--history sample_data/history/bank_calls.csv] [--weeks 1 2 4]

Writes benchmarks/results/forecast.json (one entry per held-out window).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "forecast.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", default=str(ROOT / "sample_data" / "history" / "bank_calls.csv"))
    parser.add_argument("--weeks", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    from tqdm import tqdm

    from optimizer.forecast import Calendar, read_history, to_panel
    from optimizer.forecast.backtest import backtest

    history = read_history(args.history, ZoneInfo("Asia/Shanghai"))
    panel = to_panel(history)
    windows = []
    for weeks in tqdm(args.weeks, desc="backtest windows", file=sys.stderr):
        start = time.perf_counter()
        result = backtest(panel, Calendar(), weeks)
        windows.append({
            "held_out_weeks": weeks,
            "held_out_from": result.held_out_from.isoformat(),
            "held_out_to": result.held_out_to.isoformat(),
            "held_out_days": result.held_out_days,
            "chosen": result.chosen,
            "scores": {s.model: {"wape": round(s.wape, 4), "mape": round(s.mape, 4)} for s in result.scores},
            "seconds": round(time.perf_counter() - start, 2),
        })
    out = {"series": "fpp3 bank_calls (5-min, aggregated to 30 min)", "history": Path(args.history).name,
           "intervals": int(len(history.frame)), "days": len(panel), "windows": windows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
