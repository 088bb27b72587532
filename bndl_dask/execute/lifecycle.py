"""Start/stop bookkeeping and listeners shared by jobs and tasks (BNDL's Lifecycle)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta


class Lifecycle:
    def __init__(self, name: str | None = None, desc: str | None = None):
        self.name = name
        self.desc = desc
        self.started_on: datetime | None = None
        self.stopped_on: datetime | None = None
        self.cancelled = False
        self._start_listeners: list[Callable] = []
        self._stop_listeners: list[Callable] = []

    @property
    def running(self) -> bool:
        return self.started_on is not None and self.stopped_on is None

    @property
    def stopped(self) -> bool:
        return self.stopped_on is not None

    @property
    def duration(self) -> timedelta | None:
        if self.started_on is None:
            return None
        return (self.stopped_on or datetime.now()) - self.started_on

    def add_listener(self, started: Callable, stopped: Callable | None = None) -> None:
        """Register ``started`` (and ``stopped``); a single callable gets both events."""
        self._start_listeners.append(started)
        self._stop_listeners.append(stopped or started)

    def remove_listener(self, *listeners: Callable) -> None:
        for listener in listeners:
            for group in (self._start_listeners, self._stop_listeners):
                while listener in group:
                    group.remove(listener)

    def signal_start(self) -> None:
        self.started_on = datetime.now()
        self.stopped_on = None
        for listener in list(self._start_listeners):
            listener(self)

    def signal_stop(self) -> None:
        if self.stopped_on is None:
            self.stopped_on = datetime.now()
        for listener in list(self._stop_listeners):
            listener(self)

    def cancel(self) -> None:
        if self.running:
            self.cancelled = True
            self.signal_stop()
