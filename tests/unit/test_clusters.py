"""Job resources for --cluster: parsing, precedence, the checks made before any job is submitted, and the job
scripts dask-jobqueue writes from them (built, never submitted)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from dask_jobqueue.pbs import PBSJob
from dask_jobqueue.slurm import SLURMJob

from synsweep.sweeps import SpecError, load_spec
from synsweep.sweeps.clusters import (
    OPTION,
    SPEC,
    ClusterConfigError,
    JobConfig,
    default_lifetime,
    job_config,
    parse_resources,
    read_config_file,
)

DOC = {
    "name": "jobs",
    "circuit": {"neurons": {"n1": {"model": "hh"}, "n2": {"model": "hh"}},
                "synapses": {"gap": {"model": "electrical", "pre": "n1", "post": "n2"}}},
    "simulation": {"dt": 0.02, "duration": 10},
    "sweep": [{"name": "g", "paths": ["synapses.gap.params.g1"], "values": [0.0, 0.001]}],
    "execution": {"chunk_points": 100, "resources": {"cores": 4, "memory": "8GB", "walltime": "02:00:00",
                                                     "queue": "normal", "account": "proj1"}},
}


def spec(**resources):
    doc = copy.deepcopy(DOC)
    doc["execution"]["resources"] = resources if resources else DOC["execution"]["resources"]
    return load_spec(doc)


def config(kind="slurm", the_spec=None, **options) -> JobConfig:
    return job_config(kind, the_spec if the_spec is not None else spec(), check_submit=False, **options)


def message(exc_info: pytest.ExceptionInfo) -> str:
    return str(exc_info.value)


def test_spec_resources_are_normalised_and_outside_the_hash():
    s = spec(cores=4, memory="8GB", walltime=7200, **{"job-extra-directives": "--exclusive"})
    assert s.document["execution"]["resources"] == {"cores": 4, "memory": "8GB", "walltime": "02:00:00",
                                                    "job_extra_directives": ["--exclusive"]}
    assert load_spec(s.document).document == s.document
    assert s.spec_hash == load_spec({k: v for k, v in DOC.items() if k != "execution"}).spec_hash
    json.dumps(s.document)


def test_walltime_forms():
    assert parse_resources({"walltime": "1-02:03:04"}, SPEC)["walltime"] == "26:03:04"
    # YAML 1.1 reads an unquoted 2:00:00 as the base-60 integer 7200: seconds, the same walltime
    assert parse_resources(yaml.safe_load("walltime: 2:00:00"), SPEC)["walltime"] == "02:00:00"


@pytest.mark.parametrize("resources, words", [
    ({"cores": 0}, ["execution.resources.cores", ">= 1"]),
    ({"cores": 2, "memory": "lots"}, ["execution.resources.memory", "16GB"]),
    ({"walltime": "2h"}, ["execution.resources.walltime", "HH:MM:SS"]),
    ({"walltime": "00:01:00"}, ["execution.resources.walltime", "too short"]),
    ({"wallclock": "01:00:00"}, ["execution.resources.wallclock", "walltime"]),
    ({"job_script_prologue": [1]}, ["execution.resources.job_script_prologue", "list"]),
    ({"lifetime": "soon"}, ["execution.resources.lifetime", "duration"]),
])
def test_bad_spec_resources_name_the_field(resources, words):
    doc = copy.deepcopy(DOC)
    doc["execution"]["resources"] = resources
    with pytest.raises(SpecError) as exc:
        load_spec(doc)
    text = message(exc)
    assert text.startswith("spec field 'execution.resources") and "Fix:" in text
    for word in words:
        assert word in text, text


def test_precedence_spec_then_file_then_options(tmp_path: Path):
    file = tmp_path / "cluster.yaml"
    file.write_text(yaml.safe_dump({"memory": "16GB", "queue": "long", "jobs": 3}))
    c = config(config_file=file, jobs=5)
    assert (c.cores, c.memory, c.queue, c.account, c.jobs) == (4, "16GB", "long", "proj1", 5)
    assert c.walltime_seconds == 7200
    lifetime, stagger = default_lifetime(7200)
    assert (c.lifetime_seconds, c.stagger_seconds) == (lifetime, stagger) == (7200 - 720 - 300, 300)
    assert c.environment["NUMBA_NUM_THREADS"] == "1" and c.environment["SYNSWEEP_CACHE_DIR"]


def test_lifetime_must_end_before_the_walltime():
    with pytest.raises(ClusterConfigError) as exc:
        config(lifetime="2h")
    assert "option '--lifetime'" in message(exc) and "walltime 02:00:00" in message(exc)
    with pytest.raises(ClusterConfigError) as exc:
        config(lifetime="10m", lifetime_stagger="10m")
    assert "option '--lifetime-stagger'" in message(exc) and "shorter than the lifetime" in message(exc)
    c = config(lifetime="1h30m", lifetime_stagger="5m")
    assert (c.lifetime_seconds, c.stagger_seconds) == (5400, 300)


def test_missing_cores_or_memory_is_named():
    with pytest.raises(ClusterConfigError) as exc:
        config(the_spec=spec(cores=2))
    assert "'memory'" in message(exc) and "--cluster-config" in message(exc)


def test_memory_must_hold_a_worker_and_one_task(tmp_path: Path):
    file = tmp_path / "small.yaml"
    file.write_text(yaml.safe_dump({"memory": "1GB"}))  # 4 cores: 250 MB per worker process
    with pytest.raises(ClusterConfigError) as exc:
        config(config_file=file)
    assert f"cluster config {str(file)!r} field 'memory'" in message(exc) and "per job" in message(exc)


def test_config_file_errors(tmp_path: Path):
    with pytest.raises(ClusterConfigError) as exc:
        read_config_file(tmp_path / "missing.yaml")
    assert "does not exist" in message(exc)
    broken = tmp_path / "broken.yaml"
    broken.write_text("cores: [4\n")
    with pytest.raises(ClusterConfigError) as exc:
        read_config_file(broken)
    assert "not valid YAML at line" in message(exc)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ClusterConfigError, match="is empty"):
        read_config_file(empty)


def test_unknown_interface_and_missing_submit_command(monkeypatch):
    with pytest.raises(ClusterConfigError) as exc:
        config(the_spec=spec(cores=1, memory="4GB", interface="no-such-nic0"))
    assert "no-such-nic0" in message(exc) and "lo" in message(exc)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ClusterConfigError) as exc:
        job_config("pbs", spec())
    assert "qsub" in message(exc) and "login node" in message(exc)
    with pytest.raises(ClusterConfigError):
        job_config("sge", spec(), check_submit=False)


def _job(cls, c: JobConfig):
    kwargs = {k: v for k, v in c.cluster_kwargs().items() if k != "scheduler_options"}
    return cls(scheduler="tcp://127.0.0.1:8786", name="synsweep-worker-0", **kwargs)


def test_slurm_job_script_carries_the_resources_and_the_lifetime():
    script = _job(SLURMJob, config(lifetime="1h", lifetime_stagger="2m")).job_script()
    for line in ("#SBATCH -p normal", "#SBATCH -A proj1", "#SBATCH --cpus-per-task=4", "#SBATCH -t 02:00:00",
                 "#SBATCH --mem=", "export NUMBA_NUM_THREADS=1", "export SYNSWEEP_CACHE_DIR=",
                 "--nworkers 4", "--nthreads 1", "--lifetime 3600s", "--lifetime-stagger 120s"):
        assert line in script, (line, script)


def test_pbs_job_script_carries_the_resources(tmp_path: Path):
    file = tmp_path / "pbs.yaml"
    file.write_text(yaml.safe_dump({"job_script_prologue": ["cd $PBS_O_WORKDIR"], "local_directory": "$TMPDIR"}))
    script = _job(PBSJob, config("pbs", config_file=file)).job_script()
    for line in ("#PBS -q normal", "#PBS -A proj1", "#PBS -l select=1:ncpus=4:mem=", "#PBS -l walltime=02:00:00",
                 "cd $PBS_O_WORKDIR", "--local-directory $TMPDIR", "--lifetime 6180s", "--lifetime-stagger 300s"):
        assert line in script, (line, script)


def test_errors_from_options_name_the_option():
    with pytest.raises(ClusterConfigError) as exc:
        parse_resources({"jobs": 0}, OPTION)
    assert message(exc).startswith("option '--jobs'")
