"""A real headless browser for the tests: Debian's chromium and chromium-driver, driven by selenium.

    driver = chromium_driver(tmp_path)     # installs chromium + chromium-driver with apt when missing (root)
    driver.get("http://127.0.0.1:8765/"); driver.save_screenshot(str(tmp_path / "list.png")); driver.quit()

The browser and its driver come from apt (``apt-get install chromium chromium-driver``), installed by the
tests themselves when they are missing and the tests run as root (as in CI); without root they are skipped
with the reason, and as root without apt-get they fail. Selenium is pointed at the installed chromedriver
explicitly, so it never tries to download a browser (the machine may be offline).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

PACKAGES = ("chromium", "chromium-driver")
INSTALL_TIMEOUT = 600  # s
WINDOW = (1400, 1000)


def _find(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or next((str(p) for p in (Path("/usr/bin") / name,) if p.is_file()), None)
        if found:
            return found
    return None


def install() -> tuple[str, str]:
    """Paths of the chromium binary and its driver; installed with apt-get when missing. Skips the test
    (with the reason) only where they are missing and cannot be installed (not root, or no apt-get)."""
    browser, driver = _find("chromium", "chromium-browser"), _find("chromedriver")
    if browser and driver:
        return browser, driver
    if os.geteuid() != 0:
        pytest.skip(f"the browser tests need Debian's {' and '.join(PACKAGES)}: they are missing and installing "
                    "them with apt-get needs root; run the tests as root (as CI does) or install them first")
    if shutil.which("apt-get") is None:
        pytest.fail(f"the browser tests need Debian's {' and '.join(PACKAGES)}: they are missing and there is no "
                    "apt-get to install them; install chromium and its chromedriver first")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # wait for the dpkg lock rather than fail: another test (the SLURM node) may be installing at the same time
    cmd = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, env=env)
    if result.returncode != 0:  # stale package lists: refresh them once
        subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=300", "update", "-q"], capture_output=True,
                       timeout=INSTALL_TIMEOUT, env=env)
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, env=env)
    browser, driver = _find("chromium", "chromium-browser"), _find("chromedriver")
    if result.returncode != 0 or not (browser and driver):
        pytest.fail(f"apt-get could not install {' '.join(PACKAGES)} (exit {result.returncode}):\n"
                    f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return browser, driver


def chromium_driver(folder: Path):
    """A headless chromium session (window 1400 x 1000), its profile and downloads in ``folder``."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (the 'test' extra) is not installed")
    from selenium.webdriver.chrome.service import Service

    browser, driver = install()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--user-data-dir={folder / 'profile'}",
                "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(folder / "downloads")})
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)
