"""A headless Chromium driven over the Chrome DevTools Protocol, for tests that look at a web page.

One page target: open a URL and wait for its load event, evaluate JavaScript in it, wait for a
condition, take a PNG screenshot, and collect the console errors and uncaught exceptions seen.
Standard library plus ``websocket-client``. The browser runs as this test's child in a temporary
profile; leaving the ``with`` block stops it by its PID and removes the profile, even after a failure.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from typing import Any

import websocket

from common import wait_until


class BrowserError(RuntimeError):
    """Chromium did not start, a navigation failed, or the page's JavaScript threw."""


def chromium_binary() -> str:
    """The path of ``chromium`` (or ``chromium-browser``) on PATH; BrowserError when neither is."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise BrowserError("no chromium on PATH (apt-get install chromium)")


class Browser:
    """A headless Chromium with one page, as a context manager."""

    def __init__(self, width: int = 1400, height: int = 1000, timeout: float = 30.0) -> None:
        self.width, self.height, self.timeout = width, height, timeout
        self.console_errors: list[str] = []
        self._process: subprocess.Popen | None = None
        self._profile: str | None = None
        self._ws: websocket.WebSocket | None = None
        self._next_id = 0
        self._loaded = False

    def __enter__(self) -> Browser:
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._ws is not None:
            try:
                self._ws.close(timeout=1)
            except (OSError, websocket.WebSocketException):
                pass  # chromium is stopped just below anyway
            self._ws = None
        if self._process is not None:
            self._stop(self._process)
            self._process = None
        if self._profile is not None:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    def open(self, url: str) -> None:
        """Navigate to ``url`` and wait for its load event; BrowserError on a navigation error."""
        self._loaded = False
        result = self._call("Page.navigate", url=url)
        if result.get("errorText"):
            raise BrowserError(f"navigation to {url} failed: {result['errorText']}")
        if "loaderId" not in result:  # the same document (a new #fragment): no load event comes
            return
        deadline = time.monotonic() + self.timeout
        while not self._loaded:
            if time.monotonic() > deadline:
                raise BrowserError(f"no load event within {self.timeout} s for {url}")
            self._receive(deadline)

    def evaluate(self, expression: str, await_promise: bool = False) -> Any:
        """The value of a JavaScript ``expression`` in the page (JSON-able); BrowserError if it threw."""
        result = self._call("Runtime.evaluate", expression=expression, returnByValue=True,
                            awaitPromise=await_promise)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"JavaScript {expression!r} threw: {text}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float | None = None, interval: float = 0.5) -> Any:
        """Evaluate ``expression`` every ``interval`` s until it is truthy, and return its value.

        AssertionError after ``timeout`` s (the browser's timeout by default), naming the
        expression and its last value.
        """
        last: list[Any] = []

        def value() -> Any:
            last[:] = [self.evaluate(expression)]
            return last[0]

        return wait_until(value, self.timeout if timeout is None else timeout, interval,
                          lambda: f"{expression!r}; last value: {last[0] if last else None!r}")

    def screenshot(self, path: str) -> str:
        """Save a PNG of the page's viewport to ``path`` and return ``path``."""
        data = self._call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as handle:
            handle.write(base64.b64decode(data))
        return path

    def _start(self) -> None:
        """Launch Chromium in a fresh profile, connect to a page target, enable its domains."""
        self._profile = tempfile.mkdtemp(prefix="test-chromium-")
        log_path = os.path.join(self._profile, "chromium.log")
        with open(log_path, "wb") as log:
            self._process = subprocess.Popen(
                [chromium_binary(), "--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                 f"--user-data-dir={self._profile}", "--remote-debugging-port=0",
                 "--remote-debugging-address=127.0.0.1",
                 f"--window-size={self.width},{self.height}", "about:blank"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                start_new_session=True)
        port_file = os.path.join(self._profile, "DevToolsActivePort")

        def stderr_tail() -> str:
            with open(log_path, errors="replace") as log:
                return log.read()[-2000:]

        def written_port() -> int | None:
            if self._process.poll() is not None:
                raise BrowserError(f"chromium exited with {self._process.returncode}; its stderr ends:\n"
                                   f"{stderr_tail()}")
            try:
                with open(port_file) as handle:
                    return int(handle.readline())
            except (OSError, ValueError):
                return None

        port = wait_until(written_port, self.timeout, 0.1,
                          lambda: f"chromium to write {port_file}; its stderr ends:\n{stderr_tail()}", error=BrowserError)
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/json/list", timeout=self.timeout) as reply:
            pages = [t for t in json.load(reply) if t.get("type") == "page"]
        if not pages:
            request = urllib.request.Request(f"{base}/json/new?about:blank", method="PUT")
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                pages = [json.load(reply)]
        self._ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"],
                                               suppress_origin=True, timeout=self.timeout)
        for domain in ("Page", "Runtime", "Log"):
            self._call(f"{domain}.enable")
        # --window-size counts the (invisible) window frame: make the viewport itself width x height.
        self._call("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height,
                   deviceScaleFactor=1, mobile=False)

    @staticmethod
    def _stop(process: subprocess.Popen) -> None:
        """Terminate Chromium by its PID (kill it if it lingers) and reap it, then end its helpers."""
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        # Should it have been killed, its helpers (zygotes, renderers) are still running in the
        # session it led, whose id is its PID. (After a clean exit they are zombies for init.)
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def _call(self, method: str, **params: Any) -> dict:
        """Send one DevTools command and return its result, handling the events read meanwhile."""
        if self._ws is None:
            raise BrowserError("the browser is not running (use it in a with block)")
        self._next_id += 1
        self._ws.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._receive(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise BrowserError(f"{method} failed: {message['error']}")
                return message.get("result", {})

    def _receive(self, deadline: float) -> dict:
        """The next DevTools message (an event is handled here too); BrowserError past ``deadline``."""
        self._ws.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            message = json.loads(self._ws.recv())
        except websocket.WebSocketTimeoutException:
            raise BrowserError(f"no answer from chromium within {self.timeout} s") from None
        method, params = message.get("method"), message.get("params", {})
        if method == "Page.loadEventFired":
            self._loaded = True
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            self.console_errors.append(" ".join(
                str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.console_errors.append(details.get("exception", {}).get("description")
                                       or details.get("text", "uncaught exception"))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.console_errors.append(f"{entry.get('text', '')} {entry.get('url', '')}".strip())
        return message
