"""The orders the bridge has answered, on disk: a device is never operated twice for one order.

An order counts as answered once its outcome is on its way to the hub (delivered, or held in
the on-disk buffer). Its key is then appended to the ledger and synced; a line cut short by a
crash is ignored. An order found here when its message comes again (a catch-up after a
restart, a notification kept by the broker) is skipped. An order the bridge was carrying out
when it stopped is not here: it is decided again from the status point, which sends nothing
when the device already shows it done.
"""

import os
import threading
from pathlib import Path


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = path.read_text().split("\n") if path.exists() else [""]
        self._answered = set(lines[:-1])
        if lines[-1]:  # cut short by a crash: drop it, so the next key starts a line of its own
            path.write_text("".join(f"{key}\n" for key in lines[:-1]))
        self._lock = threading.Lock()

    def __contains__(self, key: str) -> bool:
        return key in self._answered

    def answered(self, key: str) -> None:
        with self._lock, open(self.path, "a") as file:
            file.write(f"{key}\n")
            file.flush()
            os.fsync(file.fileno())
            self._answered.add(key)
