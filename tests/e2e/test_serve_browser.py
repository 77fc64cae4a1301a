"""``synsweep serve`` end to end: the installed command serves two real stores, and a real headless chromium
(selenium, tests/e2e/browser.py) uses the page as a person would: the list and its search, a store's
heatmap with its not-computed and diverged cells, a slider, a click on a point and the replayed traces.
Screenshots of each view go to the test's temporary folder. One server and one browser session serve the
whole module. Also: a server bound to a non-loopback address refuses requests without its printed token.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from synsweep.sweeps import open_result

from ..serve_stores import chemical_spec, pair_spec, write_store
from .browser import chromium_driver

EXE = Path(sys.executable).with_name("synsweep")
SCAN = "scans/pair_scan.zarr"
CHEM = "chem.zarr"
WAIT = 120  # s: the first replay compiles two kernels

pytestmark = pytest.mark.slow  # a browser per module: the full suite, not the fast tier


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(folder: Path, *args: str) -> tuple[subprocess.Popen, str, str]:
    """``synsweep serve folder --port P *args`` in a subprocess; (process, base address, announced text)."""
    port = _free_port()
    proc = subprocess.Popen([str(EXE), "serve", str(folder), "--port", str(port), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    announced = ""
    base = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base, timeout=2)
            break
        except urllib.error.HTTPError:  # refused without a token, but listening
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"synsweep serve exited with {proc.returncode}: {proc.stdout.read()}")
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("synsweep serve did not start listening within 60 s")
    while "Ctrl-C" not in announced:
        announced += proc.stdout.readline()
    return proc, base, announced


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")  # once per test process, even when pytest-xdist interleaves modules
def served(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("served")
    write_store(root / SCAN, pair_spec(), skip_last=1)
    write_store(root / CHEM, chemical_spec())
    proc, base, announced = _start(root)
    assert f"at {base}" in announced and "token" not in announced  # loopback: no token
    yield root, base
    _stop(proc)


@pytest.fixture(scope="session")  # once per test process, even when pytest-xdist interleaves modules
def browser(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("browser")
    driver = chromium_driver(folder)
    driver.set_script_timeout(WAIT)
    yield driver, folder
    driver.quit()


def _wait(driver, condition, timeout: float = 30, what: str = ""):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: condition(d), message=what)


def _renders(driver) -> int:
    return int(driver.execute_script("return Number(document.getElementById('plot').dataset.renders || 0)"))


def _screenshot(driver, folder: Path, name: str) -> None:
    path = folder / f"{name}.png"
    assert driver.save_screenshot(str(path)) and path.stat().st_size > 10_000


def _open_store(driver, base: str, store: str) -> None:
    driver.get("about:blank")  # a fresh page, not a hash change on the one already open
    driver.get(f"{base}#/store/{store}")
    _wait(driver, lambda d: _renders(d) >= 1, what="the store's figure is drawn")


def test_list_search_and_open_a_store(served, browser) -> None:
    from selenium.webdriver.common.by import By

    root, base = served
    driver, folder = browser
    driver.get(base)
    rows = _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "tr.store-row") or None, what="the list")
    assert [r.get_attribute("data-path") for r in rows] == [CHEM, SCAN]
    text = driver.find_element(By.ID, "store-list").text
    assert "g 5 × I_ext 4" in text and "12 / 4 / 4 / 0" in text and "hh, electrical" in text
    _screenshot(driver, folder, "list")
    driver.find_element(By.ID, "search").send_keys("exponential")
    _wait(driver, lambda d: d.find_element(By.ID, "list-count").text == '1 store(s) matching "exponential"',
          what="the search")
    assert driver.execute_script("return [...document.querySelectorAll('tr.store-row')].map(r => r.dataset.path)") \
        == [CHEM]
    driver.find_element(By.ID, "search").clear()
    driver.execute_script("document.getElementById('search').dispatchEvent(new Event('input'))")
    _wait(driver, lambda d: d.find_element(By.ID, "list-count").text == "2 store(s)", what="the search cleared")
    driver.find_element(By.CSS_SELECTOR, f"tr.store-row[data-path='{SCAN}']").click()
    _wait(driver, lambda d: _renders(d) >= 1, what="the store's figure is drawn")
    assert driver.find_element(By.ID, "store-title").text == f"pair_scan ({SCAN})"
    # the heatmap of pearson, and the grey layer of the not-computed and diverged cells, as in the static figure
    kinds = driver.execute_script("return document.getElementById('plot').data.map(t => t.type)")
    assert kinds == ["heatmap", "heatmap"]
    overlay = driver.execute_script("return document.getElementById('plot').data[1].text.flat()")
    assert overlay.count("not computed") == 4 and overlay.count("diverged") == 4
    assert "not computed" in driver.find_element(By.ID, "legend").text
    assert driver.find_elements(By.CSS_SELECTOR, "#plot .hm, #plot canvas, #plot image")  # drawn, not just data
    assert driver.find_element(By.ID, "progress-text").text.startswith("16 of 20 points in 4 written chunk(s)")
    _screenshot(driver, folder, "store")


def test_a_slider_changes_the_figure(served, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    root, base = served
    driver, folder = browser
    _open_store(driver, base, SCAN)
    before = _renders(driver)
    Select(driver.find_element(By.ID, "var-select")).select_by_value("first_spike_time")
    _wait(driver, lambda d: _renders(d) > before, what="first_spike_time drawn")
    assert "neuron = n1" in driver.find_element(By.ID, "selected").text
    z_n1 = driver.execute_script("return document.getElementById('plot').data[0].z.flat()")
    before = _renders(driver)
    driver.find_element(By.ID, "slider-neuron").send_keys(Keys.ARROW_RIGHT)  # the neuron slider: n1 -> n2
    _wait(driver, lambda d: _renders(d) > before, what="the figure redrawn after the slider moved")
    assert "neuron = n2" in driver.find_element(By.ID, "selected").text
    assert driver.find_element(By.ID, "value-neuron").text.strip() == "n2"
    z_n2 = driver.execute_script("return document.getElementById('plot').data[0].z.flat()")
    ds = open_result(root / SCAN)
    for neuron, z in ((0, z_n1), (1, z_n2)):  # the stored values of the neuron the slider chose, at ok points
        want = ds["first_spike_time"].isel(neuron=neuron).where(ds["status"] == 1).transpose("I_ext", "g").values
        got = np.array([np.nan if v is None else v for v in z], dtype=np.float64).reshape(want.shape)
        np.testing.assert_array_equal(got, want.astype(np.float32).astype(np.float64))
    assert z_n1 != z_n2  # the neurons start at different voltages: their first spikes differ
    _screenshot(driver, folder, "slider")


def test_click_a_point_shows_its_replay(served, browser) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    root, base = served
    driver, folder = browser
    _open_store(driver, base, CHEM)
    # the pixel of the cell (g_syn = 2, I_ext = 0.15) from plotly's own axes, relative to the plot's centre
    dx, dy = driver.execute_script("""
        const gd = document.getElementById('plot'), L = gd._fullLayout, r = gd.getBoundingClientRect();
        return [L.xaxis._offset + L.xaxis.d2p(2) - r.width / 2, L.yaxis._offset + L.yaxis.d2p(0.15) - r.height / 2];
    """)
    ActionChains(driver).move_to_element_with_offset(driver.find_element(By.ID, "plot"), int(dx), int(dy)).click()\
        .perform()
    _wait(driver, lambda d: d.find_element(By.ID, "replay").get_attribute("data-state") in ("ok", "differs",
                                                                                         "failed"),
          timeout=WAIT, what="the replay finished")
    status = driver.find_element(By.ID, "replay-status").text
    assert driver.find_element(By.ID, "replay").get_attribute("data-state") == "ok", status
    assert "replay equals the store" in status
    assert driver.find_element(By.ID, "replay-title").text == "replay of g_syn = 2 uA, I_ext = 0.15 uA"
    names = driver.execute_script("return document.getElementById('trace-plot').data.map(t => t.name)")
    assert names == ["n1 v", "n2 v"]
    assert driver.execute_script("return document.getElementById('trace-plot').data[0].y.length") == 501
    synapses = driver.execute_script("return document.getElementById('synapse-plot').data.map(t => t.name)")
    assert synapses == ["ampa.s"]
    checks = driver.find_element(By.ID, "checks").text
    assert "pearson" in checks and "DIFFERENT" not in checks and checks.count("equal") >= 10
    driver.execute_script("document.getElementById('replay').scrollIntoView()")
    _screenshot(driver, folder, "replay")


def test_non_loopback_requires_the_printed_token(served) -> None:
    root, _ = served
    proc, base, announced = _start(root, "--host", "0.0.0.0")
    try:
        token = re.search(r"needs the token (\S+)", announced).group(1)
        assert f"?token={token}" in announced
        for url in (base, f"{base}api/stores", f"{base}api/store?store={SCAN}", f"{base}api/stores?token=wrong"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(url, timeout=10)
            assert refused.value.code == 403
        with urllib.request.urlopen(f"{base}api/stores?token={token}", timeout=10) as ok:
            assert ok.status == 200 and SCAN.encode() in ok.read()
        with pytest.raises(urllib.error.HTTPError) as outside:
            urllib.request.urlopen(f"{base}api/store?store=../&token={token}", timeout=10)
        assert outside.value.code == 404
    finally:
        _stop(proc)
