"""The cluster as SLURM's commands describe it: partitions, nodes and job states, parsed from
`scontrol`, `squeue` and (where accounting runs) `sacct`."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from stockrnn.errors import StockrnnError

COMMAND_TIMEOUT_S = 60
# `Key=value` in scontrol's one-line records; a value may hold spaces (OS=Linux 6.1 #1 SMP) and
# `=` (CfgTRES=cpu=2,mem=4000M), so a value ends where a space and the next key begin.
FIELD = re.compile(r"(?:^|\s)([A-Za-z][\w:/.-]*)=(.*?)(?=\s+[A-Za-z][\w:/.-]*=|\s*$)")
UNLIMITED = ("UNLIMITED", "INFINITE", "NONE", "")
MEGABYTES = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 ** 2}


@dataclass(frozen=True)
class Partition:
    name: str
    default: bool
    max_nodes: int | None  # None: no limit
    max_minutes: int | None
    max_cpus_per_node: int | None
    max_mem_mb_per_node: float | None


@dataclass(frozen=True)
class Node:
    name: str
    partitions: tuple[str, ...]
    cpus: int
    mem_mb: float
    gpus: int


def slurm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a SLURM command; a missing command or (check) a failing one is a StockrnnError."""
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise StockrnnError(f"no SLURM here ({args[0]} not found): run a SLURM sweep on a machine of the "
                            "cluster, e.g. its login node") from None
    except subprocess.TimeoutExpired:
        raise StockrnnError(f"SLURM does not answer: `{' '.join(args)}` took over "
                            f"{COMMAND_TIMEOUT_S} s") from None
    if check and result.returncode != 0:
        first = (result.stderr.strip() or result.stdout.strip() or "no message").splitlines()[0]
        raise StockrnnError(f"SLURM does not answer: `{' '.join(args)}` failed: {first}")
    return result


def parse_records(text: str) -> list[dict[str, str]]:
    """`scontrol --oneliner show ...`: one dict of fields per line."""
    return [dict(FIELD.findall(line)) for line in text.splitlines() if "=" in line]


def limit(value: str | None) -> str | None:
    """None for a field that is absent or says there is no limit."""
    return None if value is None or value.upper() in UNLIMITED else value


def minutes(value: str | None) -> int | None:
    """A SLURM duration (`MM`, `MM:SS`, `HH:MM:SS`, `D-HH[:MM[:SS]]`) in whole minutes, rounded up;
    None for no limit."""
    value = limit(value)
    if value is None:
        return None
    days, _, clock = value.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    if days:  # D-HH, D-HH:MM, D-HH:MM:SS
        hours, mins, secs = (parts + [0, 0])[:3]
    elif len(parts) == 3:  # HH:MM:SS
        hours, mins, secs = parts
    else:  # MM, MM:SS
        hours, mins, secs = 0, parts[0], (parts + [0])[1]
    total = (int(days or 0) * 24 + hours) * 60 + mins
    return total + (1 if secs else 0)


def megabytes(value: str | float | None) -> float | None:
    """A SLURM memory size (`4000`, `8G`, `8GB`, `512M`, `1T`; a bare number is in MB) in MB."""
    if isinstance(value, (int, float)):
        return float(value)
    value = limit(value)
    if value is None:
        return None
    match = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]?)B?\s*", value.upper())
    if not match:
        raise ValueError(f"not a memory size: {value!r}")
    return float(match.group(1)) * MEGABYTES[match.group(2) or "M"]


def gres_gpus(gres: str | None) -> int:
    """GPUs in a GRES string: `gpu:a100:4(S:0-1),gpu:v100:2,mps:100` -> 6."""
    total = 0
    for item in (gres or "").split(","):
        name, *fields = item.split("(")[0].strip().split(":")
        if name == "gpu":
            total += int(fields[-1]) if fields and fields[-1].isdigit() else 1
    return total


def gpus_asked(value: str | int | None) -> int:
    """A GPU count as sbatch's --gpus-per-node takes it: `2`, `a100:2`, or none."""
    if value is None:
        return 0
    return value if isinstance(value, int) else int(str(value).rpartition(":")[2])


def partition_of(record: dict[str, str]) -> Partition:
    def number(key: str) -> int | None:
        value = limit(record.get(key))
        return int(value) if value is not None else None

    return Partition(name=record["PartitionName"], default=record.get("Default") == "YES",
                     max_nodes=number("MaxNodes"), max_minutes=minutes(record.get("MaxTime")),
                     max_cpus_per_node=number("MaxCPUsPerNode"),
                     max_mem_mb_per_node=megabytes(record.get("MaxMemPerNode")))


def node_of(record: dict[str, str]) -> Node:
    # CPUEfctv (SLURM 22.05 on) leaves out the cores kept for the system; older versions: CPUTot.
    cpus = record.get("CPUEfctv") or record.get("CPUTot") or "0"
    names = tuple(p for p in record.get("Partitions", "").split(",") if p)
    return Node(name=record["NodeName"], partitions=names, cpus=int(cpus),
                mem_mb=megabytes(record.get("RealMemory")) or 0.0, gpus=gres_gpus(_gres(record)))


def _gres(record: dict[str, str]) -> str | None:
    gres = record.get("Gres")
    return None if gres in (None, "(null)") else gres


def show(kind: str) -> list[dict[str, str]]:
    """`scontrol show partition|node`, hidden ones included, as records."""
    return parse_records(slurm("scontrol", "--all", "--oneliner", "show", kind).stdout)


def partitions() -> list[Partition]:
    return [partition_of(r) for r in show("partition")]


def nodes() -> list[Node]:
    return [node_of(r) for r in show("node")]


def parse_queue(text: str) -> dict[str, tuple[str, str]]:
    """`squeue -h -r -o %i|%T|%r` (or sacct's `JobID|State`): job id -> (state, reason)."""
    states = {}
    for line in text.splitlines():
        job_id, _, rest = line.strip().partition("|")
        state, _, reason = rest.partition("|")
        if job_id and state:
            states[job_id] = (state.split()[0], reason)  # sacct writes `CANCELLED by 0`
    return states


def queue_states(job_id: str) -> dict[str, tuple[str, str]] | None:
    """The state and pending reason of each job of an array (or of one job) while the controller
    still holds it (finished jobs too, for MinJobAge, 300 s by default); {} once it has forgotten
    the job; None when SLURM did not answer this time."""
    result = slurm("squeue", "-h", "-r", "-t", "all", "-j", job_id, "-o", "%i|%T|%r", check=False)
    if result.returncode != 0:
        return {} if "Invalid job id" in result.stderr else None
    return parse_queue(result.stdout)


def accounting_states(job_id: str) -> dict[str, tuple[str, str]]:
    """The final state of each job of an array from sacct; {} where accounting does not run."""
    try:
        result = slurm("sacct", "-n", "-P", "-X", "-j", job_id, "-o", "JobID,State", check=False)
    except StockrnnError:  # no sacct at all
        return {}
    return parse_queue(result.stdout) if result.returncode == 0 else {}


def cancel(job_id: str) -> None:
    slurm("scancel", job_id, check=False)
