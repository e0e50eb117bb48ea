"""Alerts: which route and group each change goes to, the digests, and the relay that sends them."""
