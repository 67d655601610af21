"""What Python 3.10 lacks and the workbench uses: `tomllib` and `asyncio.timeout` (both new in 3.11). ZeroGPU Spaces
document Python 3.10, so the app must start and call models there too; on 3.11+ these are the standard ones."""
from __future__ import annotations

import asyncio
import contextlib
import sys

if sys.version_info >= (3, 11):
    import tomllib

    deadline = asyncio.timeout
else:  # pragma: no cover — run by a Python 3.10 interpreter only
    import tomli as tomllib  # the same parser, released as a package (requirements: python_version < "3.11")

    @contextlib.asynccontextmanager
    async def deadline(seconds: float | None):
        """`asyncio.timeout` for 3.10: cancel the block's task after `seconds`, raise the builtin TimeoutError (as
        3.11's does; 3.10's own asyncio.TimeoutError is another class)."""
        if seconds is None:
            yield
            return
        task = asyncio.current_task()
        fired = False

        def fire() -> None:
            nonlocal fired
            fired = True
            task.cancel()

        handle = asyncio.get_running_loop().call_later(seconds, fire)
        try:
            yield
        except asyncio.CancelledError:
            if fired:
                raise TimeoutError from None
            raise
        finally:
            handle.cancel()

__all__ = ["deadline", "tomllib"]
