"""Wait for the jobs of a SLURM sweep: each ends with its result file, or ends without one
(scancel, preemption, a limit) and is reported with its SLURM state; a job pending for a reason
that never clears by itself ends the sweep."""

from __future__ import annotations

import logging
import re
import time

from stockrnn.errors import StockrnnError
from stockrnn.slurm import cluster

log = logging.getLogger(__name__)

RESULT_POLL_S = 1  # how often the result files are looked at (as submitit does)
FIRST_QUERY_S, LAST_QUERY_S = 2, 30  # the interval between questions to SLURM grows from one to the other
# Seconds an ended job may still lack its result file: a shared file system shows it late.
GRACE_S = 15
# States of a job that has ended (SLURM's job_state_string); any other state may still produce a result.
ENDED = {"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL", "OUT_OF_MEMORY",
         "PREEMPTED", "REVOKED", "SPECIAL_EXIT", "TIMEOUT"}
FORGOTTEN = "UNKNOWN"  # the controller no longer holds the job and no accounting says how it ended
KEY = "hydra.launcher."
# Pending reasons that no other job's end will clear, and what to change. Group limits (QOSGrp*,
# AssocGrp*), Resources and Priority clear as other jobs end, and are waited on.
NEVER_CLEARS = {
    "PartitionConfig": f"the request exceeds what the partition allows: change {KEY}cpus_per_task, "
                       f"{KEY}mem_gb, {KEY}gpus_per_node or {KEY}partition",
    "PartitionNodeLimit": f"more nodes than the partition allows: change {KEY}nodes or {KEY}partition",
    "PartitionTimeLimit": f"a longer time than the partition allows: change {KEY}timeout_min or "
                          f"{KEY}partition",
    "BadConstraints": f"no node has the features asked for: change {KEY}constraint or {KEY}partition",
    "DependencyNeverSatisfied": f"a job it depends on failed: change {KEY}additional_parameters.dependency",
    "InvalidAccount": f"change {KEY}account",
    "InvalidQOS": f"change {KEY}qos",
}
# A per-job (or per-node) limit of the QOS or the account: QOSMaxCpuPerJobLimit, AssocMaxNodePerJobLimit,
# QOSMaxWallDurationPerJobLimit, QOSMinCpuNotSatisfied, ... (not the per-user or group limits).
PER_JOB_LIMIT = re.compile(r"(QOS|Assoc)(Max\w*Per(Job|Node)\w*|Min\w+)")
PER_JOB_FIX = (f"the request exceeds a per-job limit of the QOS or account: change {KEY}qos, {KEY}account, "
               f"or the request ({KEY}cpus_per_task, {KEY}mem_gb, {KEY}gpus_per_node, {KEY}nodes, "
               f"{KEY}timeout_min)")


def never_clears(reason: str) -> str | None:
    """What to change when a job pending for `reason` can never start; None when it may."""
    reason = reason.strip()
    if reason in NEVER_CLEARS:
        return NEVER_CLEARS[reason]
    return PER_JOB_FIX if PER_JOB_LIMIT.fullmatch(reason) else None


def current_states(job_id: str) -> dict[str, tuple[str, str]] | None:
    """(state, reason) of each job of the array `job_id`: from the controller while it holds them,
    then from accounting where it runs; None when SLURM did not answer this time."""
    states = cluster.queue_states(job_id)
    if states == {}:
        states = cluster.accounting_states(job_id)
    return states


class Watch:
    """The jobs of one submission (an array, or a single job), followed until each has a result
    or has ended without one."""

    def __init__(self, jobs: list):
        self.jobs = jobs
        self.array_id = jobs[0].job_id.split("_")[0]
        self.waiting = set(range(len(jobs)))
        self.ended: dict[int, str] = {}  # position -> the SLURM state it ended in without a result
        self.ended_since: dict[int, float] = {}

    def wait(self) -> dict[int, str]:
        """Block until every job is done; the SLURM state of each job that ended without a result,
        by position. Raises StockrnnError (after cancelling the jobs) for a pending reason that
        never clears."""
        interval, next_query = FIRST_QUERY_S, 0.0
        while self.pick_results():
            if time.monotonic() >= next_query:
                self.update(current_states(self.array_id), time.monotonic())
                next_query = time.monotonic() + interval
                interval = min(interval * 1.5, LAST_QUERY_S)
                if self.ended_since:  # a job that ended is settled once its grace is over
                    next_query = min(next_query, min(self.ended_since.values()) + GRACE_S)
            if self.waiting:
                time.sleep(RESULT_POLL_S)
        return self.ended

    def pick_results(self) -> bool:
        """Drop the jobs whose result file exists; True while some job is still waited for."""
        self.waiting = {i for i in self.waiting if not self.jobs[i].paths.result_pickle.exists()}
        return bool(self.waiting)

    def update(self, states: dict[str, tuple[str, str]] | None, now: float) -> None:
        if states is None:  # no answer this time: ask again later
            return
        for i in sorted(self.waiting):
            job_id = self.jobs[i].job_id
            state, reason = states.get(job_id, (FORGOTTEN, ""))
            fix = never_clears(reason) if state == "PENDING" else None
            if fix:
                cluster.cancel(self.array_id)
                raise StockrnnError(f"SLURM cannot start job {job_id} of this sweep: it is pending with "
                                    f"reason {reason}, which does not clear by itself, so the sweep's jobs "
                                    f"were cancelled (scancel {self.array_id}); {fix}")
            if state not in ENDED and state != FORGOTTEN:
                self.ended_since.pop(i, None)  # running again (a requeue), or never ended
                continue
            if now - self.ended_since.setdefault(i, now) >= GRACE_S:
                log.warning("SLURM job %s ended %s without a result", job_id, state)
                self.ended[i] = state
                self.waiting.discard(i)


def ended_message(job, state: str) -> str:
    """The error a job that ended without a result records (error.json, the summary's error column)."""
    how = ("SLURM no longer knows how it ended (no accounting)" if state == FORGOTTEN
           else "cancelled (scancel), preempted, or stopped at a limit of the cluster")
    return f"SLURM job {job.job_id} ended {state} without a result: {how}; its log: {job.paths.stderr}"
