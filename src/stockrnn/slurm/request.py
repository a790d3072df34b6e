"""What each job of a SLURM sweep asks for, checked against the partition's nodes and limits before
anything is submitted: a job larger than every node would wait forever (reason PartitionConfig)."""

from __future__ import annotations

from dataclasses import dataclass

from stockrnn.errors import StockrnnError
from stockrnn.slurm import cluster
from stockrnn.slurm.cluster import Node, Partition

KEY = "hydra.launcher."


@dataclass(frozen=True)
class Request:
    """One job's request, per node. The *_keys name the launcher keys that set each part."""
    partition: str | None  # None: the cluster's default; `a,b`: the first that can take the job
    nodes: int
    cpus: int
    mem_mb: float | None
    gpus: int
    minutes: int | None
    cpu_keys: tuple[str, ...] = ("cpus_per_task",)
    mem_keys: tuple[str, ...] = ("mem_gb",)
    gpu_keys: tuple[str, ...] = ("gpus_per_node",)


def request_of(params: dict) -> Request:
    """The request of the launcher's parameters (conf/hydra/launcher/submitit_slurm.yaml)."""
    tasks = params.get("tasks_per_node") or 1
    gpus = (cluster.gpus_asked(params.get("gpus_per_node")) or (params.get("gpus_per_task") or 0) * tasks
            or cluster.gres_gpus(params.get("gres")))
    gpu_keys = tuple(k for k in ("gpus_per_node", "gpus_per_task", "gres") if params.get(k))
    cpus = max((params.get("cpus_per_task") or 1) * tasks, (params.get("cpus_per_gpu") or 0) * gpus)
    cpu_keys = tuple(k for k in ("cpus_per_task", "cpus_per_gpu") if params.get(k)) + (
        ("tasks_per_node",) if tasks > 1 else ())
    if params.get("mem_gb"):
        mem_mb, mem_keys = params["mem_gb"] * 1024.0, ("mem_gb",)
    elif params.get("mem_per_cpu"):
        mem_mb, mem_keys = cluster.megabytes(params["mem_per_cpu"]) * cpus, ("mem_per_cpu",)
    elif params.get("mem_per_gpu") and gpus:
        mem_mb, mem_keys = cluster.megabytes(params["mem_per_gpu"]) * gpus, ("mem_per_gpu",)
    else:
        mem_mb, mem_keys = None, ()
    return Request(partition=params.get("partition"), nodes=params.get("nodes") or 1, cpus=cpus,
                   mem_mb=mem_mb, gpus=gpus, minutes=params.get("timeout_min"),
                   cpu_keys=cpu_keys or ("cpus_per_task",), mem_keys=mem_keys, gpu_keys=gpu_keys)


def offer(node: Node, partition: Partition) -> tuple[int, float, int]:
    """CPUs, MB of memory and GPUs a job may have on the node in this partition."""
    cpus = min(node.cpus, partition.max_cpus_per_node or node.cpus)
    mem_mb = min(node.mem_mb, partition.max_mem_mb_per_node or node.mem_mb)
    return cpus, mem_mb, node.gpus


def fits(request: Request, cpus: int, mem_mb: float, gpus: int) -> bool:
    return request.cpus <= cpus and (request.mem_mb or 0) <= mem_mb and request.gpus <= gpus


def misfit(request: Request, partition: Partition, nodes: list[Node]) -> str | None:
    """Why no job of the request can ever start in the partition, or None when one can."""
    members = [n for n in nodes if partition.name in n.partitions]
    offers = [offer(n, partition) for n in members]
    most_nodes = min(len(members), partition.max_nodes or len(members))
    if request.nodes > most_nodes:
        return (f"each job asks for {request.nodes} nodes and partition {partition.name} has "
                f"{most_nodes} that a job may use; change {KEY}nodes")
    if partition.max_minutes is not None and (request.minutes or 0) > partition.max_minutes:
        return (f"each job asks for {request.minutes} minutes and partition {partition.name} allows "
                f"{partition.max_minutes}; change {KEY}timeout_min")
    if sum(fits(request, *o) for o in offers) >= request.nodes:
        return None
    return _too_large(request, partition.name, offers)


def _too_large(request: Request, name: str, offers: list[tuple[int, float, int]]) -> str:
    most_cpus = max((o[0] for o in offers), default=0)
    most_mem = max((o[1] for o in offers), default=0.0)
    most_gpus = max((o[2] for o in offers), default=0)
    asked = [_count(request.cpus, "CPU"), *([_memory(request.mem_mb)] if request.mem_mb else []),
             *([_count(request.gpus, "GPU")] if request.gpus else [])]
    offered = [_count(most_cpus, "CPU"), _memory(most_mem),
               *([_count(most_gpus, "GPU")] if request.gpus else [])]
    keys = [*(request.cpu_keys if request.cpus > most_cpus else ()),
            *(request.mem_keys if (request.mem_mb or 0) > most_mem else ()),
            *(request.gpu_keys if request.gpus > most_gpus else ())]
    where = f"the nodes of partition {name} offer at most {_and(offered)}"
    if not keys:  # each part fits some node, but no node offers all of it together
        where = f"no node of partition {name} offers all of it together (at most {_and(offered)})"
        keys = [*request.cpu_keys, *request.mem_keys, *request.gpu_keys]
    on = f" on each of {request.nodes} nodes" if request.nodes > 1 else ""
    return (f"each job asks for {_and(asked)}{on}, and {where}; "
            f"change {', '.join(KEY + k for k in keys)} or {KEY}partition")


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}{'' if n == 1 else 's'}"


def _memory(mb: float) -> str:
    return f"{mb / 1024:.3g} GB" if mb >= 1024 else f"{mb:.0f} MB"


def check_request(request: Request, partitions: list[Partition], nodes: list[Node]) -> None:
    """Refuse, with the request, the limits and the keys to change, a request no partition asked
    for can ever run (with `a,b`, SLURM runs the job in the first one that can)."""
    names = [p.name for p in partitions]
    if request.partition is None:
        chosen = [p for p in partitions if p.default]
        if not chosen:
            raise StockrnnError(f"SLURM has no default partition: set {KEY}partition "
                                f"(one of {', '.join(names)})")
    else:
        asked = [n.strip() for n in str(request.partition).split(",") if n.strip()]
        unknown = [n for n in asked if n not in names]
        if unknown:
            raise StockrnnError(f"{KEY}partition={request.partition}: SLURM has no partition "
                                f"{', '.join(unknown)} (partitions: {', '.join(names)})")
        chosen = [p for p in partitions if p.name in asked]
    problems = [misfit(request, p, nodes) for p in chosen]
    if all(problems):
        raise StockrnnError(f"SLURM can never start this sweep's jobs: {problems[0]}")


def refuse_unfit_request(params: dict) -> None:
    """The launcher's request, checked against what the cluster's partitions offer now."""
    check_request(request_of(params), cluster.partitions(), cluster.nodes())
