"""`monitor run`: the scheduled daemon, its status endpoints, its log lines and its state lock."""

from monitor.service.lock import StateLock, StateLocked
from monitor.service.logs import configure_logging, redact, refusals_logged
from monitor.service.runner import Service, ServiceError, run_service

__all__ = ["Service", "ServiceError", "StateLock", "StateLocked", "configure_logging", "redact", "refusals_logged",
           "run_service"]
