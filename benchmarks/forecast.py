"""Half-hour arrival forecasts a week ahead on the real bank data (1999): each target week from
1999-02-28 (a Sunday, the center's first working day) to the end of the year is forecast by a
profile fitted on the half hours before the previous week began, so every half hour is forecast 7 to
14 days after the last one the fit saw. Baselines are measured on the same half hours.

    contact-router bench forecast [--csv ../shared/data/anonymous_bank_1999_arrivals_6min.csv] [--json]
"""

from __future__ import annotations

import statistics
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from contact_router.staffing.forecast import WEEK, SeasonalProfile, backtest, read_half_hours

FIRST_WEEK = date(1999, 2, 28)
CHOSEN = SeasonalProfile()
# (name, method, lead: how long before the target week starts the fit's history ends)
METHODS = [
    ("profile (chosen)", CHOSEN, WEEK),
    ("profile, median", SeasonalProfile(statistic="median"), WEEK),
    ("mean profile", SeasonalProfile(screen_below=0), WEEK),
    ("seasonal naive, 7 days", SeasonalProfile(weeks=1, screen_below=0), timedelta(0)),
    ("seasonal naive, 14 days", SeasonalProfile(weeks=1, screen_below=0), WEEK),
    ("profile (chosen), fitted the night before", CHOSEN, timedelta(0)),
]


def business_hours(t: datetime) -> bool:
    """When the bank's center is busy, as the data shows: Sunday to Thursday 07:00-24:00, Friday
    07:00-14:00 (Saturday night's trickle after the Sabbath is left out)."""
    return (t.weekday() in (6, 0, 1, 2, 3) and t.hour >= 7) or (t.weekday() == 4 and 7 <= t.hour < 14)


def ordinary_days(counts: dict[datetime, float]) -> set[date]:
    """Days with at least 60% of the year's median total for their weekday: the target days no
    holiday or outage hit. A label after the fact, the same for every method, to show the bias on
    the days a profile is for."""
    totals: dict[date, float] = {}
    for t, v in counts.items():
        totals[t.date()] = totals.get(t.date(), 0.0) + v
    medians = {wd: statistics.median(v for d, v in totals.items() if d.weekday() == wd) for wd in range(7)}
    return {d for d, v in totals.items() if v >= 0.6 * medians[d.weekday()]}


def run(csv_path: Path, first_week: date = FIRST_WEEK) -> dict:  # type: ignore[type-arg]
    started = time.perf_counter()
    counts = read_half_hours(csv_path)
    ordinary = ordinary_days(counts)
    scopes = {
        "all": None,
        "business_hours": business_hours,
        "business_hours_ordinary_days": lambda t: business_hours(t) and t.date() in ordinary,
    }
    methods = []
    weeks = 0
    for name, method, lead in METHODS:
        result = backtest(counts, method, first_week, lead)
        weeks = len({(t.date() - first_week).days // 7 for t in result.at})
        row: dict[str, object] = {"name": name, "method": method.describe(), "lead_days": lead.days}
        row.update({scope: result.accuracy(where).as_dict() for scope, where in scopes.items()})
        methods.append(row)
    return {
        "csv": str(csv_path),
        "first_week": first_week.isoformat(),
        "target_weeks": weeks,
        "methods": methods,
        "seconds": round(time.perf_counter() - started, 2),
    }


def render(result: dict) -> str:  # type: ignore[type-arg]
    lines = [
        f"{result['target_weeks']} target weeks from {result['first_week']}. lead: days from the end of the fit's "
        "history to the start of the target week. busy: business hours. Bias > 0 over-forecasts.",
        "",
        "| method | lead d | WAPE all | MAE all | bias all | WAPE busy | MAE busy | bias busy | bias busy, ordinary days |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m in result["methods"]:
        every, busy = m["all"], m["business_hours"]
        cells = [m["name"], str(m["lead_days"])]
        cells += [f"{every['wape']:.1%}", f"{every['mae']:.2f}", f"{every['bias']:+.1%}"]
        cells += [f"{busy['wape']:.1%}", f"{busy['mae']:.2f}", f"{busy['bias']:+.1%}"]
        cells.append(f"{m['business_hours_ordinary_days']['bias']:+.1%}")
        lines.append("| " + " | ".join(cells) + " |")
    first = result["methods"][0]
    lines += [
        "",
        f"(half hours scored: {first['all']['half_hours']}, business hours {first['business_hours']['half_hours']}; "
        f"{len(result['methods'])} methods in {result['seconds']:.1f} s)",
    ]
    return "\n".join(lines)
