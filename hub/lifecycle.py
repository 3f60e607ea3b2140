"""Things the hub runs in the background (a broker, a server), started and stopped alike."""

from typing import Self


class Background:
    """Started by `start`, ended by `stop`; a `with` block does both."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exception: object) -> None:
        self.stop()
