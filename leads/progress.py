"""What a long piece of background work says of itself while a page polls it."""

from django.utils import timezone


class LeasedProgress:
    """For a model of background work with ``status`` (its ``Status`` choices holding
    QUEUED, RUNNING and DONE), ``lease_until``, ``total`` and ``done``: a score recompute,
    a bulk change."""

    @property
    def is_active(self) -> bool:
        """Waiting for a worker or running, and not past its lease: the page keeps polling."""
        return self.status in (self.Status.QUEUED, self.Status.RUNNING) and not self.is_stale

    @property
    def is_stale(self) -> bool:
        return (
            self.status in (self.Status.QUEUED, self.Status.RUNNING)
            and self.lease_until is not None
            and self.lease_until < timezone.now()
        )

    @property
    def progress_percent(self) -> int:
        if not self.total:
            return 100 if self.status == self.Status.DONE else 0
        return min(100, self.done * 100 // self.total)
