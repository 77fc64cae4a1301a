"""dask's monitors on the clusters synsweep starts (synsweep.sweeps.monitors)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import dask.config
import pytest

from synsweep.sweeps.monitors import QUIET, WORKER_KEYS, quiet_monitors, worker_environment


def test_quiet_settings_apply_where_the_user_kept_dask_defaults():
    assert quiet_monitors() == QUIET


def test_a_users_own_setting_is_kept():
    with dask.config.set({"distributed.admin.tick.interval": "50ms"}):
        quiet = quiet_monitors()
    assert "distributed.admin.tick.interval" not in quiet
    assert quiet["distributed.admin.system-monitor.interval"] == "5s"
    assert quiet["distributed.worker.profile.enabled"] is False


def test_dask_defaults_on_request():
    with dask.config.set({"synsweep.dask-monitors": "default"}):
        assert quiet_monitors() == {} and worker_environment() == {}


def test_an_unknown_choice_is_named_and_the_quiet_settings_are_kept():
    with dask.config.set({"synsweep.dask-monitors": "defaults"}), pytest.warns(UserWarning, match="'quiet'.*'default'"):
        assert quiet_monitors() == QUIET


def test_worker_environment_reads_back_as_the_quiet_settings():
    env = worker_environment()
    assert len(env) == len(WORKER_KEYS) and all(k.startswith("DASK_DISTRIBUTED__") for k in env)
    assert env["DASK_DISTRIBUTED__ADMIN__SYSTEM_MONITOR__INTERVAL"] == "5s"
    code = ("import json, dask.config, distributed; "
            f"print(json.dumps({{k: dask.config.get(k) for k in {list(WORKER_KEYS)!r}}}))")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True,
                         text=True, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == {k: QUIET[k] for k in WORKER_KEYS}
