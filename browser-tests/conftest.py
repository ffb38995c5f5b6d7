"""Fixtures for the operator console's browser tests: a real nanopayd on 127.0.0.1 (free port,
throwaway data directory), real Ed25519 buyers (PyNaCl) that pay through POST /verify, and
headless Chromium driven by the system's chromedriver. Nothing is downloaded at test time.

Every test saves a full-page PNG into NANOPAY_BROWSER_OUT (default .build/browser-tests/), so a
failing run shows what the operator saw. The browser's log is collected for the whole session
and checked by the last test.
"""
import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from nacl.signing import SigningKey
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "console-browser-test-token"
SELLER = "0:" + "5e" * 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nanopayd:
    """One nanopayd process and a small JSON client for it (the operator's curl)."""

    def __init__(self, binary: Path, work: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = work / "nanopayd.log"
        env = dict(os.environ, NANOPAY_OPERATOR_TOKEN=TOKEN, NANOPAY_PLATFORM_SECRET="42" * 32,
                   XDG_CONFIG_HOME=str(work / "config"))
        self.process = subprocess.Popen([str(binary), "--data-dir", str(work / "data"), "--port", str(self.port)],
                                        env=env, stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT)
        for _ in range(200):
            try:
                self.health = self.get("/health")
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("nanopayd did not start: " + self.log_path.read_text())

    def call(self, method: str, path: str, body=None, token: str | None = None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def get(self, path: str):
        status, body = self.call("GET", path)
        assert status == 200, (path, status, body)
        return body

    def op(self, method: str, path: str, body=None):
        return self.call(method, path, body, token=TOKEN)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Buyer:
    """A payer with a real Ed25519 key; signs v2 authorizations bound to this deployment."""

    def __init__(self, server: Nanopayd, index: int):
        self.server = server
        self.key = SigningKey(hashlib.sha256(f"console-buyer-{index}".encode()).digest())
        self.address = "0:" + hashlib.sha256(f"console-address-{index}".encode()).hexdigest()

    def deposit(self, amount: int, reference: str):
        status, body = self.server.op("POST", "/deposits", {"address": self.address, "amount": str(amount), "reference": reference,
                                                            "publicKey": bytes(self.key.verify_key).hex()})
        assert status == 200, body

    def authorization(self, amount: int, to: str = SELLER, valid_for: int = 300) -> dict:
        health = self.server.health
        network = health["network"].encode()
        service = bytes.fromhex(health["enclavePublicKey"])
        nonce = os.urandom(32)
        valid_before = int(time.time()) + valid_for

        def part(address: str) -> bytes:
            workchain, _, account = address.partition(":")
            return struct.pack(">i", int(workchain)) + bytes.fromhex(account)

        message = (b"CyberGateway:v2:" + bytes([len(network)]) + network + service + part(self.address) + part(to)
                   + amount.to_bytes(16, "big") + struct.pack(">Q", valid_before) + nonce)
        signature = self.key.sign(hashlib.sha256(message).digest()).signature
        return {"from": self.address, "to": to, "amount": str(amount), "validBefore": valid_before, "nonce": nonce.hex(),
                "signature": signature.hex(), "version": 2}

    def pay(self, amount: int, **kwargs):
        return self.server.call("POST", "/verify", self.authorization(amount, **kwargs))


def friendly(raw: str, bounceable: bool = False) -> str:
    """The user-friendly form (base64url, CRC16-XMODEM), computed here independently of the page."""
    import base64
    workchain, _, account = raw.partition(":")
    body = bytes([0x11 if bounceable else 0x51, int(workchain) & 0xFF]) + bytes.fromhex(account)
    crc = 0
    for byte in body:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return base64.urlsafe_b64encode(body + crc.to_bytes(2, "big")).decode()


@pytest.fixture(scope="session")
def server():
    binary = Path(os.environ.get("NANOPAYD", ROOT / ".build/debug/nanopayd"))
    work = Path(tempfile.mkdtemp(prefix="console-browser-"))
    os.chmod(work, 0o700)
    nanopayd = Nanopayd(binary, work)
    yield nanopayd
    nanopayd.stop()
    shutil.rmtree(work, ignore_errors=True)


class BrowserLog:
    """Everything the browser logged during the session (the driver hands each entry out once)."""

    def __init__(self):
        self.entries = []

    def drain(self, driver):
        self.entries.extend(driver.get_log("browser"))


@pytest.fixture(scope="session")
def browser_log():
    return BrowserLog()


@pytest.fixture(scope="session")
def driver(browser_log):
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000",
                 "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        options.add_argument(flag)
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    options.binary_location = chromium
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chromedriver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    browser = webdriver.Chrome(service=Service(chromedriver), options=options)
    browser.set_page_load_timeout(30)
    yield browser
    browser_log.drain(browser)
    browser.quit()


@pytest.fixture(autouse=True)
def screenshot(request, driver, browser_log):
    """After each test: a full-page PNG named after it, and the browser log collected."""
    yield
    out = Path(os.environ.get("NANOPAY_BROWSER_OUT", ROOT / ".build/browser-tests"))
    out.mkdir(parents=True, exist_ok=True)
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
    import base64
    (out / f"{request.node.name}.png").write_bytes(base64.b64decode(shot["data"]))
    browser_log.drain(driver)
