"""The on-disk buffer: messages the hub could not take yet, kept in order until it can.

One file per message, named by a growing sequence number and written atomically (temporary
file, then rename), so a crash never leaves half a message and a restart resumes in order.
"""

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SUFFIXES = {"application/json": ".json", "text/turtle": ".ttl"}
MEDIA_TYPES = {suffix: media for media, suffix in SUFFIXES.items()}


@dataclass(frozen=True)
class Held:
    path: Path
    media_type: str
    body: bytes


class DiskBuffer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._next = 1 + max((int(p.stem) for p in self._files()), default=0)

    def __len__(self) -> int:
        return sum(1 for _ in self._files())

    def hold(self, media_type: str, body: bytes) -> None:
        with self._lock:
            name = f"{self._next:016d}{SUFFIXES[media_type]}"
            self._next += 1
        temporary = self.directory / f".{name}.tmp"
        with open(temporary, "wb") as file:
            file.write(body)
            file.flush()
            os.fsync(file.fileno())
        temporary.rename(self.directory / name)

    def oldest_first(self) -> Iterator[Held]:
        for path in sorted(self._files()):
            yield Held(path, MEDIA_TYPES[path.suffix], path.read_bytes())

    def release(self, held: Held) -> None:
        held.path.unlink(missing_ok=True)

    def reject(self, media_type: str, body: bytes, reason: str) -> Path:
        """Keep a message the hub refused in rejected/, with the hub's reason next to it."""
        rejected = self.directory / "rejected"
        rejected.mkdir(exist_ok=True)
        with self._lock:
            name = f"{self._next:016d}{SUFFIXES[media_type]}"
            self._next += 1
        (rejected / name).write_bytes(body)
        (rejected / f"{name}.reason").write_text(reason)
        return rejected / name

    def _files(self) -> Iterator[Path]:
        return (p for p in self.directory.iterdir() if p.suffix in MEDIA_TYPES and p.stem.isdigit())
