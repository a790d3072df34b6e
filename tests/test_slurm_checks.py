"""Without a cluster: what SLURM's commands print, parsed; a request checked against the partition's
nodes; the pending reasons that never clear; how the watch settles jobs that end without a result."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from stockrnn.errors import StockrnnError
from stockrnn.slurm import cluster, watch
from stockrnn.slurm.request import check_request, request_of
from stockrnn.slurm.watch import GRACE_S, Watch, never_clears

# `scontrol --all --oneliner show node|partition` on the local cluster of scripts/slurm_local.sh
# (SLURM 22.05), and a GPU node and partition of a larger one.
SMALL_NODE = (
    "NodeName=vm Arch=x86_64 CoresPerSocket=1  CPUAlloc=0 CPUEfctv=2 CPUTot=2 CPULoad=0.65 "
    "AvailableFeatures=(null) ActiveFeatures=(null) Gres=(null) NodeAddr=127.0.0.1 NodeHostName=vm "
    "Version=22.05.8 OS=Linux 6.18.44-fc-v669 #1 SMP PREEMPT_DYNAMIC @0  RealMemory=4000 AllocMem=0 "
    "FreeMem=22196 Sockets=2 Boards=1 State=IDLE ThreadsPerCore=1 TmpDisk=0 Weight=1 Owner=N/A "
    "MCS_label=N/A Partitions=debug  BootTime=2026-11-26T13:53:52 CfgTRES=cpu=2,mem=4000M,billing=2 "
    "AllocTRES= CapWatts=n/a CurrentWatts=0")
GPU_NODE = (
    "NodeName=g001 Arch=x86_64 CoresPerSocket=32 CPUAlloc=0 CPUTot=64 AvailableFeatures=a100,ib "
    "Gres=gpu:a100:4(S:0-1),mps:400 RealMemory=515000 State=MIXED Partitions=gpu,long")
SMALL_PARTITION = (
    "PartitionName=debug AllowGroups=ALL Default=YES QoS=N/A DefaultTime=NONE MaxNodes=UNLIMITED "
    "MaxTime=UNLIMITED MinNodes=0 LLN=NO MaxCPUsPerNode=UNLIMITED Nodes=vm State=UP TotalCPUs=2 "
    "TotalNodes=1 JobDefaults=(null) DefMemPerNode=UNLIMITED MaxMemPerNode=UNLIMITED "
    "TRES=cpu=2,mem=4000M,node=1,billing=2")
GPU_PARTITION = ("PartitionName=gpu Default=NO MaxNodes=2 MaxTime=1-00:00:00 MaxCPUsPerNode=32 Nodes=g001 "
                 "MaxMemPerNode=256000 State=UP")
# conf/hydra/launcher/submitit_slurm.yaml's request
PRESET = {"partition": None, "nodes": 1, "tasks_per_node": 1, "cpus_per_task": 4, "mem_gb": 8,
          "gpus_per_node": None, "timeout_min": 60}


def small_cluster():
    return [cluster.partition_of(r) for r in cluster.parse_records(SMALL_PARTITION)], \
        [cluster.node_of(r) for r in cluster.parse_records(SMALL_NODE)]


def gpu_cluster():
    records = cluster.parse_records(SMALL_PARTITION + "\n" + GPU_PARTITION)
    return [cluster.partition_of(r) for r in records], \
        [cluster.node_of(r) for r in cluster.parse_records(SMALL_NODE + "\n" + GPU_NODE)]


def refusal(params: dict, cluster_=small_cluster) -> str:
    with pytest.raises(StockrnnError) as refused:
        check_request(request_of(PRESET | params), *cluster_())
    return str(refused.value)


def test_scontrol_records_keep_values_with_spaces_and_equal_signs():
    (record,) = cluster.parse_records(SMALL_NODE)
    assert record["OS"] == "Linux 6.18.44-fc-v669 #1 SMP PREEMPT_DYNAMIC @0"
    assert record["CfgTRES"] == "cpu=2,mem=4000M,billing=2" and record["AllocTRES"] == ""
    assert record["RealMemory"] == "4000" and record["Partitions"] == "debug"


def test_nodes_and_partitions_are_read_with_their_limits():
    partitions, nodes = gpu_cluster()
    assert nodes[0] == cluster.Node("vm", ("debug",), cpus=2, mem_mb=4000.0, gpus=0)
    assert nodes[1] == cluster.Node("g001", ("gpu", "long"), cpus=64, mem_mb=515000.0, gpus=4)  # CPUTot
    assert partitions[0] == cluster.Partition("debug", True, None, None, None, None)
    assert partitions[1] == cluster.Partition("gpu", False, 2, 24 * 60, 32, 256000.0)


@pytest.mark.parametrize("text, minutes", [("UNLIMITED", None), ("INFINITE", None), ("30", 30), ("30:00", 30),
                                           ("30:01", 31), ("02:00:00", 120), ("1-00:00:00", 1440),
                                           ("2-12", 3600), ("1-01:30", 1530)])
def test_slurm_durations_in_minutes(text, minutes):
    assert cluster.minutes(text) == minutes


@pytest.mark.parametrize("text, mb", [("4000", 4000), ("8G", 8192), ("8GB", 8192), ("512M", 512),
                                      ("1T", 1024 ** 2), ("UNLIMITED", None), (16, 16)])
def test_slurm_memory_sizes_in_megabytes(text, mb):
    assert cluster.megabytes(text) == mb


def test_gpus_are_counted_in_gres_and_in_requests():
    assert cluster.gres_gpus("gpu:a100:4(S:0-1),gpu:v100:2,mps:100") == 6
    assert cluster.gres_gpus("gpu") == 1 and cluster.gres_gpus(None) == 0
    assert cluster.gres_gpus("mps:400") == 0
    assert cluster.gpus_asked(2) == 2 and cluster.gpus_asked("a100:2") == 2 and cluster.gpus_asked(None) == 0


def test_the_preset_on_a_two_cpu_node_is_refused_naming_request_limits_and_keys():
    message = refusal({})
    assert message == ("SLURM can never start this sweep's jobs: each job asks for 4 CPUs and 8 GB, and the "
                       "nodes of partition debug offer at most 2 CPUs and 3.91 GB; change "
                       "hydra.launcher.cpus_per_task, hydra.launcher.mem_gb or hydra.launcher.partition")


def test_only_the_parts_that_do_not_fit_are_named():
    message = refusal({"cpus_per_task": 1})
    assert "1 CPU and 8 GB" in message
    assert "change hydra.launcher.mem_gb or hydra.launcher.partition" in message
    message = refusal({"cpus_per_task": 1, "mem_gb": 1, "gpus_per_node": 1})
    assert "asks for 1 CPU, 1 GB and 1 GPU," in message and "at most 2 CPUs, 3.91 GB and 0 GPUs;" in message
    assert "change hydra.launcher.gpus_per_node or hydra.launcher.partition" in message


def test_a_request_that_fits_passes():
    partitions, nodes = small_cluster()
    check_request(request_of(PRESET | {"cpus_per_task": 2, "mem_gb": 3}), partitions, nodes)
    check_request(request_of(PRESET | {"cpus_per_task": 1, "mem_gb": None}), partitions, nodes)


def test_partition_limits_count_as_much_as_the_nodes():
    ok = {"partition": "gpu", "cpus_per_task": 8, "mem_gb": 64, "gpus_per_node": 4}
    check_request(request_of(PRESET | ok), *gpu_cluster())
    assert "at most 32 CPUs" in refusal(ok | {"cpus_per_task": 48}, gpu_cluster)  # MaxCPUsPerNode, not 64
    assert "hydra.launcher.timeout_min" in refusal(ok | {"timeout_min": 2000}, gpu_cluster)
    assert "2000 minutes" in refusal(ok | {"timeout_min": 2000}, gpu_cluster)
    assert "hydra.launcher.nodes" in refusal(ok | {"nodes": 2}, gpu_cluster)  # one node in gpu
    tasks = refusal(ok | {"tasks_per_node": 8, "cpus_per_task": 8}, gpu_cluster)
    assert "64 CPUs" in tasks and "hydra.launcher.cpus_per_task, hydra.launcher.tasks_per_node" in tasks


def test_one_of_several_partitions_that_fits_is_enough():
    check_request(request_of(PRESET | {"partition": "debug,gpu"}), *gpu_cluster())


def test_an_unknown_partition_or_no_default_one_is_named():
    message = refusal({"partition": "gpu"})
    assert message == "hydra.launcher.partition=gpu: SLURM has no partition gpu (partitions: debug)"
    _, nodes = small_cluster()
    no_default = [cluster.Partition("debug", False, None, None, None, None)]
    with pytest.raises(StockrnnError, match="no default partition: set hydra.launcher.partition"):
        check_request(request_of(PRESET | {"cpus_per_task": 1, "mem_gb": 1}), no_default, nodes)


def test_several_nodes_each_too_small_for_all_of_it():
    partitions = [cluster.Partition("mixed", True, None, None, None, None)]
    nodes = [cluster.Node("cpu", ("mixed",), 64, 1000.0, 0), cluster.Node("mem", ("mixed",), 2, 64000.0, 0)]
    with pytest.raises(StockrnnError, match="no node of partition mixed offers all of it together"):
        check_request(request_of(PRESET | {"cpus_per_task": 8, "mem_gb": 8}), partitions, nodes)


@pytest.mark.parametrize("reason, clears", [
    ("PartitionConfig", False), ("PartitionNodeLimit", False), ("PartitionTimeLimit", False),
    ("BadConstraints", False), ("DependencyNeverSatisfied", False), ("QOSMaxCpuPerJobLimit", False),
    ("AssocMaxWallDurationPerJobLimit", False), ("QOSMinCpuNotSatisfied", False), ("InvalidQOS", False),
    ("Resources", True), ("Priority", True), ("Dependency", True), ("QOSGrpCpuLimit", True),
    ("AssocGrpGRES", True), ("QOSMaxJobsPerUserLimit", True), ("BeginTime", True), ("None", True)])
def test_the_pending_reasons_that_never_clear(reason, clears):
    assert (never_clears(reason) is None) == clears


def test_queue_and_accounting_lines_give_each_job_its_state():
    assert cluster.parse_queue("66_0|PENDING|DependencyNeverSatisfied\n66_1|RUNNING|None\n") == {
        "66_0": ("PENDING", "DependencyNeverSatisfied"), "66_1": ("RUNNING", "None")}
    assert cluster.parse_queue("70_1|CANCELLED by 0\n70_0|COMPLETED\n") == {
        "70_1": ("CANCELLED", ""), "70_0": ("COMPLETED", "")}


def fake_jobs(tmp_path: Path, ids: list[str]):
    return [SimpleNamespace(job_id=i, paths=SimpleNamespace(result_pickle=tmp_path / f"{i}_result.pkl"))
            for i in ids]


def test_a_job_that_ended_without_a_result_is_settled_after_the_grace(tmp_path):
    jobs = fake_jobs(tmp_path, ["70_0", "70_1", "70_2"])
    watched = Watch(jobs)
    jobs[0].paths.result_pickle.touch()
    assert watched.pick_results()
    states = {"70_0": ("COMPLETED", "None"), "70_1": ("CANCELLED", "None"), "70_2": ("RUNNING", "None")}
    watched.update(states, now=100.0)
    assert watched.ended == {} and watched.waiting == {1, 2}  # its result may still be on its way
    watched.update(None, now=200.0)  # SLURM did not answer: nothing is decided
    watched.update(states | {"70_2": ("PREEMPTED", "None")}, now=100.0 + GRACE_S)
    assert watched.ended == {1: "CANCELLED"} and watched.waiting == {2}
    watched.update(states | {"70_2": ("PENDING", "BeginTime")}, now=100.0 + 2 * GRACE_S)  # requeued
    watched.update(states, now=100.0 + 3 * GRACE_S)
    assert watched.waiting == {2}


def test_a_job_slurm_has_forgotten_without_accounting_is_settled_as_unknown(tmp_path):
    watched = Watch(fake_jobs(tmp_path, ["80"]))
    watched.update({}, now=0.0)
    watched.update({}, now=GRACE_S)
    assert watched.ended == {0: "UNKNOWN"}


def test_a_pending_reason_that_never_clears_cancels_the_array_and_says_why(tmp_path, monkeypatch):
    cancelled = []
    monkeypatch.setattr(cluster, "cancel", cancelled.append)
    watched = Watch(fake_jobs(tmp_path, ["90_0", "90_1"]))
    watched.update({"90_0": ("PENDING", "Resources"), "90_1": ("PENDING", "Priority")}, now=0.0)
    with pytest.raises(StockrnnError) as ended:
        watched.update({"90_0": ("PENDING", "PartitionConfig"), "90_1": ("PENDING", "Priority")}, now=1.0)
    assert cancelled == ["90"]
    assert str(ended.value).startswith("SLURM cannot start job 90_0 of this sweep: it is pending with reason "
                                       "PartitionConfig, which does not clear by itself")
    assert "hydra.launcher.cpus_per_task" in str(ended.value)


def test_the_error_of_an_ended_job_names_its_state_and_log(tmp_path):
    job = SimpleNamespace(job_id="70_1", paths=SimpleNamespace(stderr=tmp_path / "70_1_0_log.err"))
    message = watch.ended_message(job, "PREEMPTED")
    assert message.startswith("SLURM job 70_1 ended PREEMPTED without a result")
    assert message.endswith("70_1_0_log.err")
