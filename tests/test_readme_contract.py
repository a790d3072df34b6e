"""The README is the user contract: every config key, group option, metrics.json key and file that a
run, a backtest and a sweep leave has an entry in its Reference section (a name in backticks).

Keys come from the composed configs of every command and of every group option, so a key added to
any conf file fails here until the README names it. Left out: keys starting with `_` (`_target_`,
`_partial_`, `_convert_`: how Hydra instantiates a node, not settings); a node whose keys are all
such (`callbacks.lr_monitor`) counts as one key. Nested instantiation arguments (`model.optimizer.lr`,
`callbacks.early_stopping.patience`, `logger.tensorboard.version`) are kept: they are overrides
users type. `hydra.*` is Hydra's own config; the keys this project sets there (conf/hydra/launcher,
conf/hparams_search) are checked against docs/sweeps.md, which the Reference links.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from stockrnn.backtest import backtest
from stockrnn.evaluation.interval_scores import SCORES
from stockrnn.predict import forecast
from stockrnn.outputs.summary import METRICS, write_summary
from stockrnn.train import train
from stockrnn.utils.config import CONFIG_DIR

from conftest import REPO_ROOT, compose_config, synthetic_prices

COMMANDS = ("train", "backtest", "eval", "predict")
# Groups Hydra's plugins fill beside conf/: every option they offer is a user's choice too.
PLUGIN_GROUPS = ("hydra/launcher", "hydra/sweeper")
# Hydra's own `hydra=config` is its internal base config, not an option of this project.
HYDRA_INTERNAL_OPTIONS = {"hydra=config"}
# The two runs the metrics and files come from: seconds each on a synthetic CSV.
QUICK = ["trainer=cpu", "trainer.max_epochs=1", "data.n_steps=5", "data.horizon=2", "model.hidden_size=4",
         "torch_threads=1", "data.train_start=null", "data.train_end=2016-06", "data.test_start=2016-07",
         "data.test_end=null"]
FOLDS = ["backtest.folds=2", "backtest.test_length=40"]


def reference() -> str:
    """The README's Reference section: the one place every name is listed."""
    text = (REPO_ROOT / "README.md").read_text()
    assert "\n## Reference\n" in text, "README.md has no '## Reference' section"
    return text.split("\n## Reference\n", 1)[1].split("\n## ", 1)[0]


def undocumented(names, text: str) -> list[str]:
    return sorted(name for name in set(names) if f"`{name}`" not in text)


def leaf_keys(node: dict, prefix: str = "") -> set[str]:
    """Dotted keys of every setting: descend dicts, stop at values and lists; skip `_x_` keys."""
    keys = set()
    for key, value in node.items():
        if str(key).startswith("_"):
            continue
        name = f"{prefix}{key}"
        settings = None
        if isinstance(value, dict):
            settings = {k: v for k, v in value.items() if not str(k).startswith("_")}
        keys |= leaf_keys(settings, f"{name}.") if settings else {name}
    return keys


def conf_groups() -> dict[str, list[str]]:
    """Each config group under conf/ (conf/hydra/launcher: `hydra/launcher`) and its options."""
    groups = {}
    for option in Path(CONFIG_DIR).rglob("*.yaml"):
        group = option.parent.relative_to(CONFIG_DIR).as_posix()
        if group != ".":
            groups.setdefault(group, []).append(option.stem)
    return groups


def composed(config_name: str, overrides: list[str] = (), hydra: bool = False) -> DictConfig:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name, overrides=list(overrides), return_hydra_config=hydra)


def all_config_keys() -> set[str]:
    """Every command's config, and train's with each option of each of its groups."""
    keys = set()
    for name in COMMANDS:
        keys |= leaf_keys(OmegaConf.to_container(composed(name), resolve=False))
    for group, options in conf_groups().items():
        if group.startswith("hydra") or group == "backtest":  # hydra: below; backtest: composed above
            continue
        for option in options:
            keys |= leaf_keys(OmegaConf.to_container(composed("train", [f"{group}={option}"]), resolve=False))
    return keys


def all_group_options() -> set[str]:
    options = {f"{group}={option}" for group, names in conf_groups().items() for option in names}
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        for group in PLUGIN_GROUPS:
            options |= {f"{group}={option}" for option in loader.get_group_options(group)}
    return options - HYDRA_INTERNAL_OPTIONS


def test_every_config_key_is_in_the_readme_reference():
    keys = all_config_keys()
    assert {"data.fill", "model.optimizer.lr", "callbacks.weight_averaging.decay", "logger.csv.save_dir",
            "backtest.warm_start", "ckpt_path", "callbacks.lr_monitor"} <= keys  # the walk finds them
    assert not any(part.startswith("_") for key in keys for part in key.split("."))
    assert undocumented(keys, reference()) == []


def test_every_group_option_is_in_the_readme_reference():
    options = all_group_options()
    assert {"data=sp500", "callbacks=ema", "hydra/launcher=slurm_local", "hydra/launcher=joblib",
            "hydra/sweeper=optuna"} <= options
    assert undocumented(options, reference()) == []


def test_every_interval_score_is_in_the_readme_reference():
    assert undocumented(SCORES, reference()) == []


def test_every_metric_the_summary_knows_is_in_the_readme_reference():
    assert undocumented(metric_names(METRICS), reference()) == []


def test_the_keys_this_project_sets_for_hydra_are_in_the_sweeps_page():
    """The launcher presets and the Optuna search: hydra.launcher.* and hydra.sweeper.* keys."""
    sweeps = (REPO_ROOT / "docs" / "sweeps.md").read_text()
    keys = set()
    for option in conf_groups()["hydra/launcher"]:
        cfg = composed("train", [f"hydra/launcher={option}"], hydra=True)
        keys |= leaf_keys(OmegaConf.to_container(cfg.hydra.launcher, resolve=False), "hydra.launcher.")
    for option in conf_groups()["hparams_search"]:
        search = OmegaConf.load(Path(CONFIG_DIR) / "hparams_search" / f"{option}.yaml")
        settings = OmegaConf.to_container(search.hydra.sweeper, resolve=False)
        keys |= leaf_keys({k: v for k, v in settings.items() if k != "params"}, "hydra.sweeper.")
        keys.add("hydra.sweeper.params")  # the searched space: one key, its entries are config keys
    assert "hydra.launcher.partition" in keys and "hydra.sweeper.n_trials" in keys
    assert undocumented(keys, sweeps) == []


def test_a_key_added_to_a_conf_file_without_a_readme_entry_fails(tmp_path, monkeypatch):
    """The check above is not vacuous: a new key in a group file is found and reported."""
    conf = tmp_path / "conf"
    shutil.copytree(CONFIG_DIR, conf)
    with (conf / "model" / "default.yaml").open("a") as file:
        file.write("brand_new_knob: 3\n")
    monkeypatch.setattr(sys.modules[__name__], "CONFIG_DIR", str(conf))
    assert undocumented(all_config_keys(), reference()) == ["model.brand_new_knob"]


# A distribution's scores as the README writes them: test_crps -> test_<score>, with every
# <score> (crps, coverage_90, ...) listed once.
SCORE_KEY = re.compile(rf"^(test|val|climatology|garch|climatology_val|garch_val)_({'|'.join(SCORES)})$")


def metric_names(metrics: dict) -> set[str]:
    """Keys as the README writes them: test_rmse_step2 -> test_rmse_step<k>, garch_crps -> garch_<score>."""
    names = {re.sub(r"_step\d+$", "_step<k>", key) for key in metrics}
    return {SCORE_KEY.sub(r"\1_<score>", name) for name in names}


def entries(directory: Path) -> set[str]:
    """A directory's files and folders as the README names them (folders with a trailing slash)."""
    return {f"{p.name}/" if p.is_dir() else p.name for p in directory.iterdir()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One short train run with horizon 2 (per-step metrics), a 2-fold backtest of a quantile
    forecaster (the distribution metrics and columns), its forecast and a sweep summary over two
    seeds of the run: every file and metric they leave."""
    root = tmp_path_factory.mktemp("contract")
    prices = root / "prices.csv"
    synthetic_prices().to_csv(prices, index=False)
    data = [f"data.path={prices}"]
    run_metrics, _ = train(compose_config([*QUICK, *data], root / "run"))
    backtest_metrics, _ = backtest(compose_config([*QUICK, *FOLDS, *data, "model.distribution=quantile"],
                                                  root / "backtest", config_name="backtest"))
    table, _ = forecast(str(root / "run" / "checkpoints" / "best.ckpt"), None)
    # A panel of two series in one long CSV: the panel's keys, files and columns.
    panel = root / "panel.csv"
    pd.concat([synthetic_prices().assign(Name=name) for name in ("AAA", "BBB")]).to_csv(panel, index=False)
    panel_metrics, _ = train(compose_config([*QUICK, f"data.path={panel}", "data.series_column=Name"], root / "panel"))
    panel_forecast, _ = forecast(str(root / "panel" / "checkpoints" / "best.ckpt"), None)
    sweep = root / "sweep"
    for job, seed in enumerate((0, 1)):
        shutil.copytree(root / "run", sweep / str(job),
                        ignore=shutil.ignore_patterns("checkpoints", "tensorboard"))
        (sweep / str(job) / ".hydra").mkdir()
        (sweep / str(job) / ".hydra" / "overrides.yaml").write_text(f"- seed={seed}\n")
    # Two seeds never forecast exactly alike (and identical losses break arch's MCS): job 1 a little off.
    val = pd.read_csv(sweep / "1" / "val_predictions.csv")
    val.assign(predicted=val["predicted"] * 1.001).to_csv(sweep / "1" / "val_predictions.csv", index=False)
    write_summary(sweep)
    return {"root": root, "run": run_metrics, "backtest": backtest_metrics, "forecast": table, "sweep": sweep,
            "panel": panel_metrics, "panel_forecast": panel_forecast}


def test_every_metric_of_a_run_and_a_backtest_is_in_the_readme_reference(runs):
    assert "test_rmse_step2" in runs["run"] and "garch_val_coverage_90" in runs["backtest"]
    written = json.loads((runs["root"] / "backtest" / "metrics.json").read_text())
    assert set(written) == set(runs["backtest"])
    assert "series_beating_linear" in runs["panel"]
    named = metric_names(runs["run"]) | metric_names(runs["backtest"]) | metric_names(runs["panel"])
    assert undocumented(named, reference()) == []


def test_every_file_a_run_a_backtest_and_a_sweep_leave_is_in_the_readme_reference(runs):
    root = runs["root"]
    left = (entries(root / "run") | entries(root / "run" / "checkpoints") | entries(root / "backtest")
            | entries(root / "backtest" / "folds" / "1") | (entries(runs["sweep"]) - {"0/", "1/"})
            | entries(root / "panel"))
    assert {"metrics.json", "best.ckpt", "backtest.csv", "folds/", "summary_by_config.csv", "per_series.csv"} <= left
    assert undocumented(left, reference()) == []


def test_every_column_of_the_prediction_files_is_in_the_readme_reference(runs):
    root = runs["root"]
    columns = set()
    for table in (root / "run" / "predictions.csv", root / "backtest" / "predictions.csv",
                  root / "panel" / "predictions.csv"):
        columns |= set(table.read_text().splitlines()[0].split(","))
    columns |= set(runs["forecast"].columns) | set(runs["panel_forecast"].columns)
    assert {"horizon", "fold", "linear", "step", "q0.25", "garch_hi90", "series", "local_linear",
            "network"} <= columns  # network: the point forecast before model.combination=persistence
    assert undocumented(columns, reference()) == []


def test_every_column_of_per_series_csv_is_on_the_panels_page(runs):
    """per_series.csv's columns are listed on docs/panels.md (the README links there)."""
    columns = (runs["root"] / "panel" / "per_series.csv").read_text().splitlines()[0].split(",")
    assert {"series", "skill", "local_linear_rmse", "combination_weight"} <= set(columns)
    assert undocumented(columns, (REPO_ROOT / "docs" / "panels.md").read_text()) == []
