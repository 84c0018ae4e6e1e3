"""Headless Chromium driven over the Chrome DevTools protocol, for the report's browser tests.

No driver to install: Debian's ``chromium`` is started with ``--remote-debugging-pipe`` and
spoken to over two pipes (NUL-separated JSON messages on its fds 3 and 4). The network is cut
three ways: DNS resolves nothing, every request goes to a proxy on a closed port, and the page
runs with the DevTools network emulation offline; every request the page makes is recorded
(:attr:`Page.requests`), so a test asserts that it made none but the file itself.

Input is real: clicks are mouse events at an element's centre, typing is text inserted at the
focus, keys are key events, as a person's would be. Console errors, uncaught exceptions and
browser log errors are collected in :attr:`Page.errors`.

Example::

    with Browser() as browser:
        page = browser.open(Path("report.html"))
        page.wait_for("document.body.dataset.rendered !== undefined")
        page.type("#f-search", "row 3")
        page.screenshot(Path(".tmp/report-screenshots/example.png"))
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # no name resolves
    "--proxy-server=127.0.0.1:9",  # and anything else goes nowhere
    "--proxy-bypass-list=<-loopback>",
]
TIMEOUT = 60.0
"""Seconds any one protocol answer or awaited condition may take before the test fails (a fail-safe, not a measure)."""


class BrowserError(AssertionError):
    """The browser did not answer, or answered an error."""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("install chromium: apt-get install chromium (the report is checked in a real browser)")
    return found


_SHIM = (
    "import os, sys; r, w = int(sys.argv[1]), int(sys.argv[2]); os.dup2(r, 3); os.dup2(w, 4);"
    " os.close(r); os.close(w); os.execv(sys.argv[3], sys.argv[3:])"
)


def _high(fds: tuple[int, int]) -> tuple[int, int]:
    """The two fds moved to numbers of 10 or more, clear of the 3 and 4 the browser reads and writes."""
    moved = tuple(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in fds)
    for fd in fds:
        os.close(fd)
    return moved[0], moved[1]


class Browser:
    """One headless Chromium with a fresh profile; :meth:`open` gives a :class:`Page`."""

    def __init__(self, width: int = 1400, height: int = 900) -> None:
        self.width, self.height = width, height
        self._profile = tempfile.TemporaryDirectory()
        to_browser_r, self._to_browser = _high(os.pipe())
        self._from_browser, from_browser_w = _high(os.pipe())
        # fds 3 and 4 of the browser are the two pipes; a small Python shim puts them there (no preexec_fn).
        self._process = subprocess.Popen(
            [sys.executable, "-c", _SHIM, str(to_browser_r), str(from_browser_w), chromium(), *FLAGS,
             "--remote-debugging-pipe", f"--user-data-dir={self._profile.name}", "about:blank"],
            pass_fds=(to_browser_r, from_browser_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (BrowserError, OSError):
            pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        self._profile.cleanup()

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_browser], [], [], max(left, 0))
            if not ready:
                raise BrowserError("chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise BrowserError("chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        """Send one command and return its result; events that arrive meanwhile go to :attr:`events`."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            answer = self._read_message(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self.events.append(answer)

    def pump(self, seconds: float) -> None:
        """Take the events that arrive within ``seconds`` (for a load event awaited with a deadline)."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                self.events.append(self._read_message(deadline))
        except BrowserError as exc:
            if "in time" not in str(exc):
                raise

    def open(self, path: Path) -> Page:
        """A new tab, offline, showing ``path`` once its load event fired."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        for method in ("Runtime.enable", "Log.enable", "Network.enable", "Page.enable"):
            page.send(method)
        page.send(
            "Network.emulateNetworkConditions",
            {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        page.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False},
        )
        page.send("Page.navigate", {"url": path.resolve().as_uri()})
        page.wait_for_event("Page.loadEventFired")
        return page


class Page:
    """One tab: evaluate JavaScript, click, type, press keys, take screenshots; what went wrong in :attr:`errors`."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser, self.session = browser, session
        self._seen = 0

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.send(method, params, self.session)

    def _events(self) -> list[dict[str, Any]]:
        return [e for e in self.browser.events if e.get("sessionId") == self.session]

    def wait_for_event(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            for event in self._events():
                if event.get("method") == method:
                    return event
            self.browser.pump(0.2)
        raise BrowserError(f"no {method} in {TIMEOUT:.0f} s")

    @property
    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and browser log errors, as text."""
        found = []
        for event in self._events():
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append("exception: " + str(details.get("exception", {}).get("description", details.get("text"))))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
        return found

    @property
    def requests(self) -> list[str]:
        """The URL of every request the page made."""
        return [e["params"]["request"]["url"] for e in self._events() if e.get("method") == "Network.requestWillBeSent"]

    def eval(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises awaited)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, condition: str) -> None:
        """Until the JavaScript ``condition`` is true (or :data:`TIMEOUT` passed: a failure)."""
        deadline = time.monotonic() + TIMEOUT
        while not self.eval(f"Boolean({condition})"):
            if time.monotonic() > deadline:
                raise BrowserError(f"still not true after {TIMEOUT:.0f} s: {condition}")
            self.browser.pump(0.1)

    def _centre(self, selector: str) -> tuple[float, float]:
        box = self.eval(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        if box is None:
            raise BrowserError(f"nothing matches {selector}")
        return box[0], box[1]

    def click(self, selector: str) -> None:
        """A left click at the centre of the first element matching ``selector``."""
        x, y = self._centre(selector)
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def focus(self, selector: str) -> None:
        self.eval(f"document.querySelector({json.dumps(selector)}).focus()")

    def type(self, selector: str, text: str) -> None:
        """Click into the field and type ``text`` (as inserted text: one input event)."""
        self.click(selector)
        self.send("Input.insertText", {"text": text})

    def press(self, key: str, times: int = 1) -> None:
        """Key presses at the focus: ``ArrowRight``, ``ArrowLeft``, ``Enter``..."""
        codes = {"ArrowLeft": 37, "ArrowRight": 39, "ArrowUp": 38, "ArrowDown": 40, "Enter": 13, "End": 35, "Home": 36}
        for _ in range(times):
            for kind in ("rawKeyDown", "keyUp"):
                self.send(
                    "Input.dispatchKeyEvent",
                    {"type": kind, "key": key, "code": key, "windowsVirtualKeyCode": codes[key]},
                )

    def select(self, selector: str, value: str) -> None:
        """Choose ``value`` in a ``<select>`` as the keyboard would, then the change event it sends."""
        self.focus(selector)
        self.eval(
            f"(() => {{ const s = document.querySelector({json.dumps(selector)}); s.value = {json.dumps(value)};"
            " s.dispatchEvent(new Event('change', {bubbles: true})); })()"
        )

    def screenshot(self, path: Path, *, full_page: bool = False, at: str | None = None) -> Path:
        """A PNG at ``path`` of the viewport from the top of the page, from the top of the element ``at``,
        or of the whole page."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            params |= {
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
            }
        elif at is not None:
            self.eval(f"document.querySelector({json.dumps(at)}).scrollIntoView()")
        else:
            self.eval("window.scrollTo(0, 0)")
        data = self.send("Page.captureScreenshot", params)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path
