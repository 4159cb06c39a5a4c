"""A minimal headless-Chromium driver over the DevTools protocol on a pipe (`--remote-debugging-pipe`):
no websocket or browser-automation package needed. Used by the viz tests and to save page screenshots.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-pipe"]


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


class Browser:
    """One headless Chromium with one page; `call` sends a CDP command and returns its result."""

    def __init__(self, width: int = 1400, height: int = 900, binary: str | None = None) -> None:
        binary = binary or find_chromium()
        if binary is None:
            raise FileNotFoundError("no chromium binary on PATH")
        self.tmp = tempfile.mkdtemp(prefix="gn-chromium-")
        self._log = open(os.path.join(self.tmp, "stderr.log"), "wb")
        to_r, self._to_w = os.pipe()
        self._from_r, from_w = os.pipe()

        def child_fds() -> None:  # the protocol pipe is fds 3 (commands in) and 4 (replies out)
            a, b = os.dup(to_r), os.dup(from_w)  # high copies first: to_r/from_w may themselves be 3 or 4;
            # pass_fds=(3, 4) keeps the results open (fds are closed after this runs)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={self.tmp}", f"--window-size={width},{height}",
                                      "about:blank"], pass_fds=(3, 4), preexec_fn=child_fds,
                                     stdout=subprocess.DEVNULL, stderr=self._log)
        os.close(to_r)
        os.close(from_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None
        tid = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=tid, flatten=True)["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Log.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def _read(self, timeout: float) -> dict[str, Any]:
        end = time.time() + timeout
        while b"\0" not in self._buf:
            if time.time() > end:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._from_r, 1 << 20)
            if not chunk:
                log = Path(self.tmp, "stderr.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"chromium closed the protocol pipe; its stderr ends:\n{log}")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        """Send a command (to the page session once attached) and wait for its reply."""
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        os.write(self._to_w, json.dumps(msg).encode() + b"\0")
        while True:
            r = self._read(timeout)
            if r.get("id") == self._id:
                if "error" in r:
                    raise RuntimeError(f"{method}: {r['error']}")
                return r.get("result", {})
            if "method" in r:
                self.events.append(r)

    def eval(self, expr: str) -> Any:
        """Evaluate a JS expression in the page; returns its JSON value."""
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"JS error: {r['exceptionDetails']}")
        return r["result"].get("value")

    def open(self, path: str | os.PathLike, timeout: float = 20.0) -> None:
        """Load a local file and wait until the page sets body[data-ready]."""
        self.call("Page.navigate", url=Path(path).resolve().as_uri())
        end = time.time() + timeout
        while not self.eval("document.body && document.body.getAttribute('data-ready') === '1'"):
            if time.time() > end:
                raise TimeoutError(f"page {path} never became ready")
            time.sleep(0.05)

    def click(self, x: float, y: float) -> None:
        """A real mouse click at page coordinates."""
        for t in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=t, x=x, y=y, button="left", clickCount=1)

    def screenshot(self, path: str | os.PathLike) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        Path(path).write_bytes(base64.b64decode(data))

    def errors(self) -> list[str]:
        """Console errors and uncaught exceptions seen so far."""
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                out.append(str(p.get("exceptionDetails", {}).get("exception", {}).get("description", p)))
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description"))) for a in p.get("args", [])))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append(p["entry"].get("text", ""))
        return out

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_w)
        os.close(self._from_r)
        self._log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def screenshot_html(html: str | os.PathLike, png: str | os.PathLike, width: int = 1400, height: int = 900,
                    js: str | None = None) -> None:
    """Open a saved page headless, optionally run `js`, and save a PNG."""
    with Browser(width, height) as b:
        b.open(html)
        if js:
            b.eval(js)
        b.screenshot(png)
