"""A sweep's leaderboard, read from its job directories: summary.csv, summary.md and summary.png."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from stockrnn.outputs import plots
from stockrnn.evaluation.confidence_set import confidence_set, validation_losses
from stockrnn.errors import StockrnnError
from stockrnn.utils.entry import ERROR_FILE

OK, FAILED, UNFINISHED = "ok", "failed", "unfinished"  # unfinished: still running, or killed
# metrics.json keys in the contract's order; summary.csv adds any others after them.
METRICS = ("objective", "val_rmse", "persistence_val_rmse", "linear_val_rmse", "linear_lags", "test_rmse",
           "test_mae", "test_mape", "test_direction_acc", "persistence_rmse", "persistence_mae",
           "persistence_mape", "persistence_direction_acc", "skill", "linear_rmse", "linear_mae", "linear_mape",
           "linear_direction_acc", "linear_skill", "dm_stat_persistence", "dm_pvalue_persistence",
           "dm_stat_linear", "dm_pvalue_linear", "pt_pvalue", "n_test", "folds", "skill_mean", "skill_std",
           "skill_min", "folds_beating_persistence", "folds_beating_linear", "val_crps", "climatology_val_crps",
           "test_crps", "climatology_crps", "garch_crps", "crps_skill", "crps_skill_garch", "dm_pvalue_crps_garch",
           "dm_pvalue_crps_climatology", "test_coverage_50", "test_coverage_80", "test_coverage_90",
           "garch_coverage_90", "test_width_80", "test_width_90", "garch_width_90", "test_interval_score_90",
           "epochs", "train_seconds")
# The columns of summary.md (those a job has), and those averaged over seeds.
SHOWN = ("objective", "val_rmse", "linear_val_rmse", "in_mcs", "test_rmse", "persistence_rmse", "skill",
         "linear_rmse", "linear_skill", "dm_pvalue_persistence", "dm_pvalue_linear", "folds_beating_persistence",
         "folds_beating_linear", "val_crps", "test_crps", "crps_skill_garch", "dm_pvalue_crps_garch",
         "test_coverage_90", "test_width_90", "epochs", "train_seconds")
AVERAGED = ("objective", "val_rmse", "test_rmse", "skill", "linear_skill", "val_crps", "test_crps", "crps_skill_garch",
            "test_coverage_90", "test_width_90", "epochs", "train_seconds")
# What a sweep minimizes: the objective (a backtest's, or a distribution run's CRPS relative to
# climatology's), else a train job's val_rmse.
RANKED_BY = ("objective", "val_rmse")


def ranking_metric(columns, suffix: str = "") -> str | None:
    """The metric jobs (or, with suffix "_mean", configurations) are sorted by."""
    return next((key + suffix for key in RANKED_BY if key + suffix in columns), None)
SEED = "seed"


@dataclass
class Summary:
    jobs: pd.DataFrame  # one row per job, best objective (or val_rmse) first, failed and unfinished last
    configs: pd.DataFrame | None  # mean and std over seeds per configuration, when seeds repeat one
    swept: list[str]  # override keys whose value differs between jobs
    mcs_days: int = 0  # validation targets the Model Confidence Set compared (0: none formed)

    @property
    def ranked_by(self) -> str:
        return ranking_metric(self.jobs.columns) or "job"

    def count(self, status: str) -> int:
        return int((self.jobs["status"] == status).sum())

    @property
    def n_not_ok(self) -> int:
        return len(self.jobs) - self.count(OK)

    def describe(self) -> str:
        unfinished = self.count(UNFINISHED)
        return (f"{len(self.jobs)} jobs: {self.count(OK)} ok, {self.count(FAILED)} failed"
                + (f", {unfinished} unfinished" if unfinished else ""))


def job_params(overrides: list[str]) -> dict:
    """`model=gru data.n_steps=10` as {"model": "gru", "data.n_steps": 10}, parsed as Hydra does."""
    params = {}
    for override in OverridesParser.create().parse_overrides(overrides):
        value = override.value()
        params[override.key_or_group] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return params


def read_job(job_dir: Path) -> tuple[dict, dict]:
    """The job's parameters (its overrides), and its row: number, status, metrics or error."""
    overrides = list(OmegaConf.to_container(OmegaConf.load(job_dir / ".hydra" / "overrides.yaml")))
    row = {"job": int(job_dir.name) if job_dir.name.isdigit() else job_dir.name,
           "overrides": " ".join(overrides), "error": ""}
    if (job_dir / ERROR_FILE).is_file():
        row |= {"status": FAILED, "error": json.loads((job_dir / ERROR_FILE).read_text())["error"]}
    elif (job_dir / "metrics.json").is_file():
        row |= {"status": OK} | json.loads((job_dir / "metrics.json").read_text())
    else:
        row["status"] = UNFINISHED
    return job_params(overrides), row


def job_dirs(sweep_dir: Path) -> list[Path]:
    """Every directory of the sweep that a job has started (Hydra writes its overrides first)."""
    return sorted((path.parent.parent for path in sweep_dir.glob("*/.hydra/overrides.yaml")),
                  key=lambda d: (not d.name.isdigit(), int(d.name) if d.name.isdigit() else 0, d.name))


def summarize(sweep_dir: str | Path) -> Summary:
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise StockrnnError(f"sweep directory not found: {sweep_dir}")
    dirs = job_dirs(sweep_dir)
    if not dirs:
        raise StockrnnError(f"no jobs in {sweep_dir}: expected job directories with .hydra/overrides.yaml "
                            "(the directory a multirun prints as its sweep output dir)")
    params, rows = zip(*(read_job(d) for d in dirs))
    losses = validation_losses({row["job"]: d for d, row in zip(dirs, rows) if row["status"] == OK})
    included = confidence_set(losses)
    for row in rows:
        compared = included is not None and row["job"] in losses.columns
        row["in_mcs"] = row["job"] in included if compared else None
    keys = list(dict.fromkeys(key for p in params for key in p))  # first seen first
    jobs = pd.DataFrame([row | {f"param:{k}": v for k, v in p.items()} for p, row in zip(params, rows)])
    jobs = jobs.rename(columns=lambda c: c.removeprefix("param:"))
    swept = [k for k in keys if jobs[k].astype(str).nunique(dropna=False) > 1]
    metrics = [m for m in METRICS if m in jobs] + sorted(
        c for c in jobs.columns if c not in {"job", "overrides", "status", "error", "in_mcs", *METRICS, *keys})
    for whole in ("n_test", "epochs"):  # integers, also beside the blanks of failed jobs
        if whole in jobs:
            jobs[whole] = jobs[whole].astype("Int64")
    jobs = jobs[["job", *swept, "status", "in_mcs", *metrics, "error", "overrides"]]
    rank = jobs.assign(_status=jobs["status"].map({OK: 0, FAILED: 1, UNFINISHED: 2}))
    ranked_by = ranking_metric(jobs.columns)
    jobs = rank.sort_values(["_status", *([ranked_by] if ranked_by else []), "job"], kind="stable")
    jobs = jobs.drop(columns="_status").reset_index(drop=True)
    return Summary(jobs, seed_means(jobs, swept), swept, len(losses) if included is not None else 0)


def seed_means(jobs: pd.DataFrame, swept: list[str]) -> pd.DataFrame | None:
    """Mean and std of the finished jobs per configuration (the swept keys but the seed), when
    some configuration ran with more than one seed."""
    ok = jobs[jobs["status"] == OK]
    if SEED not in swept or ok.empty:
        return None
    config_keys = [k for k in swept if k != SEED]
    grouped = ok.groupby(config_keys, dropna=False, sort=False) if config_keys else ok.groupby(lambda _: "all")
    if grouped.size().max() < 2:
        return None
    columns = [m for m in AVERAGED if m in ok]
    table = grouped[columns].agg(["mean", "std"])
    table.columns = [f"{metric}_{stat}" for metric, stat in table.columns]
    table.insert(0, "runs", grouped.size())
    table = table.reset_index() if config_keys else table.reset_index(drop=True)
    return table.sort_values(ranking_metric(table.columns, "_mean"), kind="stable").reset_index(drop=True)


def write_summary(sweep_dir: str | Path) -> Summary:
    """summary.csv (every job, every metric), summary_by_config.csv (when seeds repeat a
    configuration), summary.md and summary.png; the callback at the end of a multirun and
    `python -m stockrnn.report` both call this."""
    sweep_dir = Path(sweep_dir)
    summary = summarize(sweep_dir)
    summary.jobs.to_csv(sweep_dir / "summary.csv", index=False)
    by_config = sweep_dir / "summary_by_config.csv"
    if summary.configs is not None:
        summary.configs.to_csv(by_config, index=False)
    else:
        by_config.unlink(missing_ok=True)  # a rebuilt summary never keeps a stale table
    (sweep_dir / "summary.md").write_text(markdown(summary, sweep_dir))
    plots.save(plots.sweep_figure(summary.jobs, summary.swept, summary.describe(), summary.ranked_by),
               sweep_dir / "summary.png")
    return summary


def markdown(summary: Summary, sweep_dir: Path, limit: int | None = None) -> str:
    """The summary as Markdown: the jobs (the first `limit` of them), then the seed averages."""
    keys = summary.swept or ["overrides"]
    shown = [m for m in SHOWN if m in summary.jobs]
    jobs = summary.jobs if limit is None else summary.jobs.head(limit)
    has_errors = bool(summary.jobs["error"].fillna("").astype(str).str.len().any())
    mcs = (f"in_mcs: in the 90% Model Confidence Set of the finished jobs' validation losses (squared errors; "
           f"CRPS when every job forecast the same quantiles) on the {summary.mcs_days} validation targets they "
           "share (the jobs outside it are worse by more than noise)." if summary.mcs_days else
           "in_mcs: empty (fewer than two finished jobs with val_predictions.csv, fewer than 10 validation "
           "targets they share, or jobs on different series).")
    lines = [f"# Sweep {sweep_dir}", "", f"{summary.describe()}; sorted by {summary.ranked_by}.", "", mcs, "",
             markdown_table(jobs[["job", *keys, "status", *shown, *(["error"] if has_errors else [])]])]
    if limit is not None and len(summary.jobs) > limit:
        lines.append(f"\n({len(summary.jobs) - limit} more rows in summary.md and summary.csv)")
    if summary.configs is not None:
        configs = summary.configs
        table = configs[[c for c in configs.columns if not c.endswith(("_mean", "_std"))]].copy()
        for metric in (m for m in AVERAGED if f"{m}_mean" in configs):
            table[metric] = [f"{_number(mean)} ± {_number(std)}"
                             for mean, std in zip(configs[f"{metric}_mean"], configs[f"{metric}_std"])]
        lines += ["", "## Per configuration: mean ± std over seeds", "", markdown_table(table)]
    return "\n".join(lines) + "\n"


def markdown_table(frame: pd.DataFrame) -> str:
    def cell(value) -> str:
        text = "" if pd.isna(value) else f"{value:.4g}" if isinstance(value, float) else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    rows = [[str(c) for c in frame.columns], ["---"] * len(frame.columns)]
    rows += [[cell(v) for v in record] for record in frame.itertuples(index=False)]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def _number(value: float) -> str:
    return "" if pd.isna(value) else f"{value:.4g}"
