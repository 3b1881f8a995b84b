"""Pid files and psutil readings -> container-named samples (pure)."""

from __future__ import annotations

from collections import namedtuple
from pathlib import Path

from exporters.containers import ContainerLabels, container_families, split_replica
from exporters.processes import ProcessTarget, pidfile_target, process_usage

CpuTimes = namedtuple("CpuTimes", "user system children_user children_system iowait")


def test_pid_file_names_the_replica():
    target = pidfile_target(Path("runs/stack/pids/whisperlive-2.pid"), "4242\n", mtime=100.0)
    assert target == ProcessTarget(4242, "whisperlive-2", "whisperlive", "2", started_by=100.0)


def test_unusable_pid_files_name_nothing():
    for text in ("", "abc", "-5", "0", "12 13"):
        assert pidfile_target(Path("whisperlive-1.pid"), text, mtime=0.0) is None


def test_split_replica():
    assert split_replica("whisperlive-12") == ("whisperlive", "12")
    assert split_replica("nginx") == ("nginx", "")
    assert split_replica("my-service") == ("my-service", "")
    assert split_replica("-3") == ("-3", "")


def test_process_usage_adds_children_and_takes_rss_and_the_gpu_from_the_environment():
    target = ProcessTarget(77, "whisperlive-1", "whisperlive", "1")
    usage = process_usage(target, CpuTimes(1.5, 0.5, 2.0, 1.0, 0.3), rss=123_456_789, threads=9,
                          environ={"CUDA_VISIBLE_DEVICES": "1"})
    assert usage.labels == ContainerLabels("whisperlive-1", "77", "whisperlive", "1", "1")
    assert usage.cpu_seconds == 5.0  # iowait is not CPU time
    assert usage.working_set_bytes == 123_456_789
    assert usage.threads == 9
    assert usage.usage_bytes is None and not usage.network


def test_process_families_use_the_container_names_and_leave_out_what_processes_lack():
    usage = process_usage(ProcessTarget(77, "whisperlive-1", "whisperlive", "1"),
                          CpuTimes(1, 1, 0, 0, 0), rss=10, threads=2, environ={})
    names = {f.name for f in container_families([usage])}
    assert names == {"container_cpu_usage_seconds", "container_memory_working_set_bytes", "container_threads"}
    samples = {s.name: s for f in container_families([usage]) for s in f.samples}
    assert samples["container_cpu_usage_seconds_total"].labels == {
        "name": "whisperlive-1", "id": "77", "compose_service": "whisperlive", "replica": "1", "gpu": ""
    }
