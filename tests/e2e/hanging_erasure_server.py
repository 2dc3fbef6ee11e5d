"""The server `enishi serve` runs, plus one plugin whose part of the first erasure creates the
file $ENISHI_TEST_MARKER and then hangs: the crash-safety test kills the process there, in the
middle of an erasure, with the parts before it committed and the privacy plugin's not."""

import argparse
import asyncio
import os
from pathlib import Path

import uvicorn

from enishi import ErasureReport, hookimpl
from enishi.graphql.app import create_app
from enishi.runtime import Runtime


class HangingOnce:
    @hookimpl(trylast=True)  # after every other plugin's part, before the privacy plugin's (always last)
    async def enishi_subject_erase(self, uow, subject):
        marker = Path(os.environ["ENISHI_TEST_MARKER"])
        if not marker.exists():  # noqa: ASYNC240 - a marker file, once, in a test server
            marker.write_text("erasing")  # noqa: ASYNC240
            await asyncio.sleep(3600)
        return ErasureReport("hanging")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    runtime = Runtime(extra_plugins=[("hanging", HangingOnce())])
    uvicorn.run(create_app(runtime), host="127.0.0.1", port=parser.parse_args().port, log_config=None, access_log=False)
