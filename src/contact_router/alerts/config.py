"""What the early-warning detectors look for, per queue. Every detector can be switched off (None or
False); the defaults are what a supervisor would expect on day one."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AlertPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Contacts
    waiting_share: float | None = Field(
        0.8, gt=0, description="Warn when a contact has waited this share of the queue's service-level threshold."
    )
    predict_breach: bool = Field(
        True, description="Warn when a contact's expected wait (place in queue x AHT / staffed agents) passes the threshold."
    )
    repeat_window_seconds: float | None = Field(86_400.0, gt=0, description="Same customer and queue within this.")
    channel_hop_window_seconds: float | None = Field(3_600.0, gt=0, description="Same customer, another channel, within this.")
    sentiment_low: float | None = Field(-0.6, ge=-1, le=1, description="Warn at or below this sentiment score.")
    sentiment_drop: float | None = Field(0.5, gt=0, le=2, description="Warn when the score falls by this ...")
    sentiment_drop_seconds: float = Field(120.0, gt=0, description="... within this time.")
    max_transfers: int | None = Field(2, ge=1, description="Warn when a contact is transferred this many times.")
    max_holds: int | None = Field(3, ge=1, description="Warn when a contact is put on hold this many times.")
    previous_csat_at_most: int | None = Field(2, ge=1, le=5, description="Warn when the customer's last CSAT was this low.")

    # Queues
    sla_projection: bool = Field(True, description="Warn when the half hour's service level is projected below target.")
    sla_certainty_z: float = Field(
        1.5, ge=0, description="Warn only when the projection stays below target by this many standard deviations "
        "of what is still to happen (0: warn on the projection itself).",
    )
    sla_late_certainty_z: float = Field(
        0.75, ge=0, description="The same from sla_late_after_seconds on: a projection still below target that late "
        "rests on most of the half hour's contacts, and on the bank's days it rarely recovered.",
    )
    sla_late_after_seconds: float = Field(960.0, ge=0, lt=1800, description="When sla_late_certainty_z takes over.")
    sla_prior_contacts: float = Field(
        60.0, ge=0, description="Weight, in contacts, of the queueing model's service level for the contacts still to "
        "come, against the service level this half hour and the last one really had.",
    )
    sla_warn_after_seconds: float = Field(
        600.0, ge=0, lt=1800, description="Judge a half hour only once this much of it has passed (its start is mostly guesswork).",
    )
    min_offered: int = Field(10, ge=1, description="Queue ratios (SL, abandonment) need this many contacts to count.")
    resolve_margin: float = Field(0.02, ge=0, description="A ratio alert resolves only this far back on the good side.")
    abandonment_ratio: float | None = Field(0.10, gt=0, le=1, description="Warn when the half hour's abandonment reaches this.")
    arrivals_over_forecast: float | None = Field(
        1.25, gt=1, description="Warn when arrivals so far run this many times the forecast."
    )
    no_agent: bool = Field(True, description="Warn when contacts wait and no agent with the needed skills is staffed or available.")
    understaffed: bool = Field(True, description="Warn when staffed agents are below the recommended number.")
    patience_seconds: float | None = Field(
        None, gt=0, description="Mean customer patience: when set, Erlang A (with abandonment) recommends staffing "
        "too, and gives the service level projected for the contacts still to come.",
    )
    shrinkage: float = Field(0.0, ge=0, lt=1, description="Share of paid time away from the queue, for scheduled staff.")

    # Agents
    handle_time_factor: float | None = Field(2.0, gt=1, description="Warn when a contact runs this many times the queue's AHT ...")
    handle_time_min_seconds: float = Field(300.0, ge=0, description="... and at least this long.")
    occupancy_high: float | None = Field(0.92, gt=0, le=1, description="Warn when an agent's occupancy (over the window) reaches this.")
    missed_offers: bool = Field(True, description="Warn when the router pauses an agent for missed offers.")

    # Lifecycle
    cooldown_seconds: float = Field(600.0, ge=0, description="A resolved queue or agent alert cannot fire again before this.")
    evaluate_every_seconds: float = Field(
        30.0, gt=0, description="How often queue and agent detectors run on timers, at multiples of it on the clock: "
        "one that divides 1800 judges every half hour at the same seconds (5 minutes before its end among them).",
    )
