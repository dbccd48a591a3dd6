"""How the people react to what the router does: the one behaviour model both simulators play.

A workload fixes what happens whatever the routing does (arrivals, shifts, breaks, each customer's
fate); this module decides what depends on it: whether and when an agent answers an offer, how long
handling takes with the agent given, how the customer's mood moves while handled, what a customer
does when their patience ends, and whether they come back. Pure, seeded by the caller's rng.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Literal

from contact_router.sim.workload import Arrival, Workload


@dataclass(frozen=True)
class Response:
    """What the agent does with an offer, and after how many seconds of ringing."""

    kind: Literal["accept", "reject", "ring_out"]
    after: float


class People:
    def __init__(self, workload: Workload, rng: random.Random) -> None:
        self.workload = workload
        self.rng = rng

    def respond(self, offer_timeout: float | None, margin: float = 0.0) -> Response:
        """Answer, reject or let it ring. An answer that would come after the offer timed out (less
        a margin for the answer's trip) is a ring-out: the phone stopped ringing before."""
        w, u = self.workload, self.rng.random()
        kind: Literal["accept", "reject", "ring_out"] = (
            "accept" if u < w.answer_share else "reject" if u < w.answer_share + w.reject_share else "ring_out"
        )
        after = self.rng.expovariate(1.0 / w.ring_seconds) if w.ring_seconds else 0.0
        if kind != "ring_out" and offer_timeout is not None and after >= offer_timeout - margin:
            kind = "ring_out"
        return Response(kind, after)

    @staticmethod
    def handle_seconds(arrival: Arrival, location: str | None, *, transferred: bool) -> float:
        """The contact's handle time with an agent there (home differs from the office)."""
        base = arrival.transfer_handle_seconds if transferred else arrival.handle_seconds
        return base * (arrival.home_handle_factor if location == "home" else 1.0)

    def sentiment_updates(self, arrival: Arrival, waited: float, handle: float) -> list[tuple[float, float]]:
        """(seconds after the answer, score in [-1, 1]) for each update while handled: a customer who
        waited long starts lower; the score then drifts, with a little noise per reading."""
        mood = arrival.mood
        if mood is None:
            return []
        start = mood.start - mood.wait_penalty_per_minute * waited / 60.0
        updates = []
        k = 0
        while (at := k * mood.every_seconds) < handle:
            score = start + mood.drift_per_minute * at / 60.0 + self.rng.gauss(0.0, 0.05)
            updates.append((at, round(min(max(score, -1.0), 1.0), 3)))
            k += 1
        return updates

    @staticmethod
    def when_patience_ends(arrival: Arrival) -> Literal["callback", "abandon"]:
        return "callback" if arrival.callback else "abandon"

    @staticmethod
    def comes_back(arrival: Arrival, outcome: Literal["completed", "abandoned"], finished_at: float) -> Arrival | None:
        """The customer's next contact, if they return: after hanging up, or after an unresolved end."""
        if arrival.comeback is None or (outcome == "completed" and arrival.resolved):
            return None
        again = arrival.comeback
        return dataclasses.replace(again.arrival, at=finished_at + again.after_seconds)
