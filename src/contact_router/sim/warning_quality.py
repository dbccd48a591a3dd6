"""How early and how right the early warnings are, judged against what really happened in an offline
run (where the truth is known): recall, precision and lead time per alert kind.

Queue service level (`sla_at_risk`), judged per half hour of a queue: a breach is a half hour whose
service level ended below target (counted as the detectors count it: each wait in the half hour it
ended, at least `min_offered` of them). The alert is about the current half hour (the detector
resolves it when the half hour ends and judges the next one afresh), so a half hour is warned when
the alert fired in it at least `ahead_seconds` before its end. Recall: warned breaches over
breaches. Precision: of the half hours in which the alert fired at all (however late: a supervisor
paged with three minutes left and nothing wrong was still paged for nothing), those that breached.
The lead time is from the first warning of the half hour to its end.

Contacts (`contact_breach_predicted`, `contact_waiting_long`, and either): a breach is a wait that
passed its queue's threshold (answered late, or abandoned after it). It is flagged when the alert
fired during the wait and before the threshold; the lead time is from the alert to the threshold.
A flag is right when that wait did breach.

Alerts that stay firing until they resolve, across half hours (`lasting_quality`), are judged per
queue half hour against a set of bad half hours: `arrivals_above_forecast` against surges (arrivals
ended at least its factor times the forecast, with at least `min_offered` of them: the surge was
real, not a burst in the first minutes), `understaffed` against service-level breaches in the half
hour it fired or the next (it looks a half hour ahead by the forecast).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from contact_router.alerts.outlook import Forecast
from contact_router.alerts.state import HALF_HOUR
from contact_router.contract.events import EscalationAlert
from contact_router.routing.config import RoutingConfig
from contact_router.sim.offline import EPOCH, Wait

CONTACT_KINDS = ("contact_breach_predicted", "contact_waiting_long")
HalfHour = tuple[str, float]  # (queue, start in simulated seconds)


@dataclass(frozen=True)
class KindQuality:
    kind: str
    breaches: int
    warned: int  # breaches warned ahead (queues) or before the threshold (contacts)
    warnings: int
    right: int  # warnings followed by a breach
    leads: tuple[float, ...] = field(default=(), repr=False)  # seconds of warning, per warned breach

    @classmethod
    def combined(cls, runs: Sequence[KindQuality]) -> KindQuality:
        """Several runs (days, seeds) as one: counts add up, lead times pool."""
        return cls(
            runs[0].kind,
            sum(r.breaches for r in runs),
            sum(r.warned for r in runs),
            sum(r.warnings for r in runs),
            sum(r.right for r in runs),
            tuple(lead for r in runs for lead in r.leads),
        )

    @property
    def lead_median_seconds(self) -> float:
        return statistics.median(self.leads) if self.leads else math.nan

    @property
    def lead_p10_seconds(self) -> float:
        """Nine in ten warned breaches had at least this much warning."""
        return sorted(self.leads)[int(0.1 * (len(self.leads) - 1))] if self.leads else math.nan

    @property
    def recall(self) -> float:
        return self.warned / self.breaches if self.breaches else math.nan

    @property
    def precision(self) -> float:
        return self.right / self.warnings if self.warnings else math.nan

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "kind": self.kind, "breaches": self.breaches, "warned": self.warned, "recall": self.recall,
            "warnings": self.warnings, "right": self.right, "precision": self.precision,
            "lead_median_seconds": self.lead_median_seconds, "lead_p10_seconds": self.lead_p10_seconds,
        }  # fmt: skip


def _period(t: float) -> float:
    """Start of the half hour of simulated time t (half hours aligned as the detectors align them)."""
    return math.floor((EPOCH + t) / HALF_HOUR) * HALF_HOUR - EPOCH


def breached_half_hours(waits: Iterable[Wait], routing: RoutingConfig) -> set[HalfHour]:
    """(queue, start) of the half hours whose service level ended below target."""
    met: dict[HalfHour, int] = defaultdict(int)
    offered: dict[HalfHour, int] = defaultdict(int)
    for w in waits:
        key = (w.queue, _period(w.ended))
        offered[key] += 1
        met[key] += w.answered and w.ended - w.arrived <= routing.policy(w.queue).service_level_seconds
    return {
        key
        for key, n in offered.items()
        if n >= routing.policy(key[0]).alerts.min_offered and met[key] / n < routing.policy(key[0]).service_level_target
    }


def queue_quality(
    alerts: Iterable[tuple[float, EscalationAlert]],
    waits: Iterable[Wait],
    routing: RoutingConfig,
    *,
    ahead_seconds: float = 300.0,
    kind: str = "sla_at_risk",
) -> KindQuality:
    breached = breached_half_hours(waits, routing)
    first: dict[HalfHour, float] = {}  # half hour -> when its first warning fired
    for t, alert in alerts:
        if alert.kind == kind and alert.status == "firing":
            key = (alert.subject.id, _period(t))
            first[key] = min(first.get(key, math.inf), t)
    ahead = {key: t for key, t in first.items() if t <= key[1] + HALF_HOUR - ahead_seconds}
    leads = [start + HALF_HOUR - ahead[(queue, start)] for queue, start in breached if (queue, start) in ahead]
    right = sum(1 for key in first if key in breached)
    return KindQuality(kind, len(breached), len(leads), len(first), right, tuple(leads))


def contact_quality(
    alerts: Iterable[tuple[float, EscalationAlert]], waits: Iterable[Wait], routing: RoutingConfig, kinds: Sequence[str]
) -> KindQuality:
    fired: dict[str, list[float]] = defaultdict(list)  # contact -> times any of the kinds fired
    for t, alert in alerts:
        if alert.kind in kinds and alert.status == "firing":
            fired[alert.subject.id].append(t)
    breaches = warned = flagged = right = 0
    leads = []
    for w in waits:
        threshold_at = w.arrived + routing.policy(w.queue).service_level_seconds
        breach = w.ended > threshold_at
        during = [t for t in fired.get(w.contact_id, ()) if w.arrived <= t <= w.ended]
        before = [t for t in during if t < threshold_at]
        breaches += breach
        if during:
            flagged += 1
            right += breach
        if breach and before:
            warned += 1
            leads.append(threshold_at - min(before))
    return KindQuality(" or ".join(kinds), breaches, warned, flagged, right, tuple(leads))


def warning_quality(
    alerts: list[tuple[float, EscalationAlert]], waits: list[Wait], routing: RoutingConfig
) -> list[KindQuality]:
    return [
        queue_quality(alerts, waits, routing),
        *(contact_quality(alerts, waits, routing, [kind]) for kind in CONTACT_KINDS),
        contact_quality(alerts, waits, routing, CONTACT_KINDS),
    ]


def surges(
    arrivals: Iterable[tuple[float, str]], forecasts: Mapping[str, Forecast], factor: float, min_arrivals: int
) -> set[HalfHour]:
    """(queue, start) of the half hours whose arrivals (simulated time, queue) ended at least `factor`
    times the queue's forecast for them, with at least `min_arrivals` of them."""
    counts: dict[HalfHour, int] = defaultdict(int)
    for t, queue in arrivals:
        counts[(queue, _period(t))] += 1
    return {
        (queue, start)
        for (queue, start), n in counts.items()
        if queue in forecasts and n >= min_arrivals and n >= factor * forecasts[queue].expected(EPOCH + start)
    }


def lasting_quality(
    alerts: Iterable[tuple[float, EscalationAlert]],
    bad: set[HalfHour],
    kind: str,
    *,
    reach: int = 0,
    ahead_seconds: float = 300.0,
) -> KindQuality:
    """A queue alert that stays firing until it resolves (across half hours), judged against a set of
    bad half hours. Warnings are the half hours it fired in (once or more); one is right when it, or
    one of the `reach` half hours after it, was bad. A bad half hour is warned when the alert was firing at some moment from `reach` half
    hours before it began up to `ahead_seconds` before it ended; the lead runs from the first such
    moment to its end."""
    fired: dict[str, float] = {}
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)  # queue -> (fired, resolved)
    warned: set[HalfHour] = set()
    for t, alert in alerts:
        if alert.kind != kind:
            continue
        queue = alert.subject.id
        if alert.status == "firing" and queue not in fired:
            fired[queue] = t
            warned.add((queue, _period(t)))
        elif alert.status == "resolved" and queue in fired:
            spans[queue].append((fired.pop(queue), t))
    for queue, t in fired.items():
        spans[queue].append((t, math.inf))
    leads = []
    for queue, start in bad:
        opens, closes = start - reach * HALF_HOUR, start + HALF_HOUR - ahead_seconds
        firsts = [max(f, opens) for f, r in spans.get(queue, ()) if f <= closes and r > opens]
        if firsts:
            leads.append(start + HALF_HOUR - min(firsts))
    right = sum(1 for queue, start in warned if any((queue, start + k * HALF_HOUR) in bad for k in range(reach + 1)))
    return KindQuality(kind, len(bad), len(leads), len(warned), right, tuple(leads))
