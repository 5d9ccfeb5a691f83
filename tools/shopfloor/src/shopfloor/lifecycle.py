"""What the long-lived local things share (the local stack, the observed stack, a fault proxy):
`async with thing:` starts it and stops it afterwards, also when the body fails, so no test or
command leaves processes or listening ports behind."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class StartStop:
    async def start(self) -> object:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
