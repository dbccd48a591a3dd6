"""Early-warning escalation: detectors that watch the stream and raise alerts before an SLA breaks."""
