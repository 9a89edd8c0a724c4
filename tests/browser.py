"""A headless Chromium for the tests, driven over the DevTools protocol through a pipe.

One browser serves every page of a test run (starting Chromium costs a second or two, a page
a fraction of that).  ``--remote-debugging-pipe`` speaks the protocol as NUL-terminated JSON
on file descriptors 3 (to the browser) and 4 (from it), so no WebSocket client and no Node
are needed: the standard library is enough.  Nothing is fetched from the network: the pages
are local files, and the flags turn off Chromium's own background traffic.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REQUIRE_BROWSER = os.environ.get("SYMPROP_REQUIRE_BROWSER") == "1"
FLAGS = [
    "--headless",
    "--no-sandbox",  # the tests run as root (CI too), where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def needs_browser() -> str:
    """Chromium's path; skip without it, or fail when CI demands it (SYMPROP_REQUIRE_BROWSER=1)."""
    found = chromium_path()
    if found:
        return found
    message = "chromium not found (apt-get install chromium)"
    if REQUIRE_BROWSER:
        pytest.fail(f"SYMPROP_REQUIRE_BROWSER=1 but {message}")
    pytest.skip(message)


class BrowserError(RuntimeError):
    pass


class Browser:
    """``with Browser(path) as b: b.open(file)``, then ``b.evaluate(js)``, ``b.screenshot(png)``."""

    def __init__(self, path: str, timeout: float = 30.0):
        self.path, self.timeout = path, timeout
        self.next_id, self.session, self.buffer = 0, None, b""

    def __enter__(self) -> Browser:
        self.profile = tempfile.mkdtemp(prefix="symprop-chromium-")
        to_browser, self.writer = os.pipe()
        self.reader, from_browser = os.pipe()

        def wire():  # in the child: the pipe's ends become the protocol's descriptors 3 and 4
            ends = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser, from_browser)]  # out of their way
            os.dup2(ends[0], 3)
            os.dup2(ends[1], 4)

        self.process = subprocess.Popen(
            [self.path, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),  # kept open: the child closes the others after wire() ran
            preexec_fn=wire,
        )
        os.close(to_browser)
        os.close(from_browser)
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable")
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.session = None
            self.send("Browser.close")
            self.process.wait(timeout=10)
        except Exception:
            self.process.kill()
            self.process.wait()
        finally:
            os.close(self.writer)
            os.close(self.reader)
            shutil.rmtree(self.profile, ignore_errors=True)

    # -- the protocol ---------------------------------------------------------------------

    def send(self, method: str, **params) -> int:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        os.write(self.writer, json.dumps(message).encode() + b"\0")
        return self.next_id

    def receive(self, deadline: float) -> dict:
        while b"\0" not in self.buffer:
            if time.monotonic() > deadline:
                raise BrowserError("Chromium did not answer in time")
            chunk = os.read(self.reader, 1 << 20)
            if not chunk:
                raise BrowserError("Chromium closed the pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, **params) -> dict:
        wanted = self.send(method, **params)
        deadline = time.monotonic() + self.timeout
        while True:
            message = self.receive(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})

    def wait_for(self, event: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            message = self.receive(deadline)
            if message.get("method") == event:
                return message.get("params", {})

    # -- what the tests do ------------------------------------------------------------------

    def open(self, path: Path, width: int = 1000, height: int = 1400) -> None:
        """Load a local file and wait until its scripts ran (the load event)."""
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self.send("Page.navigate", url=Path(path).resolve().as_uri())
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (JSON-able)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> None:
        """The page's first screen as a PNG, once its fonts have loaded."""
        self.evaluate("document.fonts.ready.then(() => true)")
        data = self.call("Page.captureScreenshot", format="png")["data"]
        Path(path).write_bytes(base64.b64decode(data))
