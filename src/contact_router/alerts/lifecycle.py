"""An alert's life: it fires once per subject, resolves once, and a queue or agent alert then cools
down before it may fire again, so a figure hovering at its threshold does not flood supervisors.

Ids derive from the domain, the alert's kind, its subject and its firing time (event time), so
replaying the same events raises the same alerts with the same ids, and two domains with the same
contact, queue or agent ids never share one (consumers dedupe by id).
"""

from __future__ import annotations

from contact_router.alerts.state import ActiveAlert, alert_key
from contact_router.contract import EscalationAlert
from contact_router.contract.events import EscalationSubject
from contact_router.routing.model import DUE_TOLERANCE_SECONDS, DomainState

Evidence = dict[str, float | int | str]


def alert_id(domain: str, kind: str, subject_kind: str, subject_id: str, fired_at: float) -> str:
    """`<domain>/<kind>:<subject kind>:<subject id>:<fired at, epoch ms>`. A domain cannot contain
    "/" and the time is the last field, so two different alerts never get the same id."""
    return f"{domain}/{kind}:{subject_kind}:{subject_id}:{round(fired_at * 1000)}"


class AlertBook:
    """Fires and resolves alerts on a domain's state, collecting the EscalationAlert outputs."""

    def __init__(self, domain: str, state: DomainState, now: float) -> None:
        self.domain = domain
        self.state = state
        self.now = now
        self.outputs: list[EscalationAlert] = []

    def fire(
        self,
        kind: str,
        severity: str,
        subject_kind: str,
        subject_id: str,
        queue: str | None,
        evidence: Evidence,
        cooldown_seconds: float = 0.0,
    ) -> None:
        key = alert_key(kind, subject_kind, subject_id)
        known = self.state.alerts.get(key)
        if known is not None and (known.resolved_at is None or known.resolved_at + known.cooldown_seconds > self.now):
            return  # firing already, or cooling down
        alert = ActiveAlert(
            alert_id=alert_id(self.domain, kind, subject_kind, subject_id, self.now),
            kind=kind,
            severity=severity,
            subject_kind=subject_kind,
            subject_id=subject_id,
            queue=queue,
            fired_at=self.now,
            cooldown_seconds=cooldown_seconds,
        )
        self.state.touch_alert(alert)
        self.outputs.append(self._message(alert, "firing", evidence))

    def resolve(self, kind: str, subject_kind: str, subject_id: str, evidence: Evidence | None = None) -> None:
        key = alert_key(kind, subject_kind, subject_id)
        alert = self.state.alerts.get(key)
        if alert is None or alert.resolved_at is not None:
            return
        alert.resolved_at = self.now
        if subject_kind == "contact":
            self.state.remove_alert(key)  # a contact's alerts never come back: nothing to cool down
        else:
            self.state.touch_alert(alert)
        self.outputs.append(self._message(alert, "resolved", evidence or {}))

    def forget_cooled(self) -> None:
        """Drop resolved alerts whose cooldown is over: they only existed to hold the cooldown."""
        done = [
            key
            for key, a in self.state.alerts.items()
            if a.resolved_at is not None and a.resolved_at + a.cooldown_seconds <= self.now + DUE_TOLERANCE_SECONDS
        ]
        for key in done:
            self.state.remove_alert(key)

    def _message(self, alert: ActiveAlert, status: str, evidence: Evidence) -> EscalationAlert:
        return EscalationAlert(
            alert_id=alert.alert_id,
            kind=alert.kind,
            severity=alert.severity,  # type: ignore[arg-type]
            subject=EscalationSubject(kind=alert.subject_kind, id=alert.subject_id, queue=alert.queue),  # type: ignore[arg-type]
            evidence={k: round(v, 4) if isinstance(v, float) else v for k, v in evidence.items()},
            status=status,  # type: ignore[arg-type]
        )
