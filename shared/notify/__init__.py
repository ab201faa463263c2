"""Waking the watches that wait on a user's run when it changes.

- base.py: the ChangeNotifier contract
- wait_room.py: one process's open waits, which both notifiers wake
- local.py: one process; redis.py: many processes through Redis pub/sub
"""

from .base import FORGOTTEN, ChangeNotifier
from .local import LocalNotifier

__all__ = ["FORGOTTEN", "ChangeNotifier", "LocalNotifier"]
