"""The Prometheus and Alertmanager side, outside the workers: where local Prometheus finds the demo's
workers, and a webhook receiver that shows what Alertmanager sends. (The early warnings the workers
raise themselves live in `alerts/`.) Standard library only: `deploy/stack` runs the receiver before
the virtualenv exists."""
