"""Check a command line's keys against the config they would change, before Hydra composes it or
makes a run directory: a mistyped key is named with the closest existing ones, an unset required
key is named, and nothing is written."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterator
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra._internal.utils import get_args_parser
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig, OmegaConf

from stockrnn.errors import StockrnnError

# What to say about a required key (`???` in conf/) that the command line leaves unset.
REQUIRED = {"ckpt_path": "the checkpoint to use, e.g. ckpt_path=outputs/train/runs/<run>/checkpoints/best.ckpt"}
# difflib ratios: a candidate at least SIMILAR to the typed key, and within NEARLY of the best one.
SIMILAR, NEARLY = 0.6, 0.05
# Keys Hydra's instantiate reads itself: any `_target_` node takes them.
INSTANTIATE_KEYS = ("_target_", "_partial_", "_convert_", "_recursive_", "_args_")


def check_command_line(config_dir: str, config_name: str, argv: list[str]) -> None:
    """The overrides of a `python -m stockrnn.<command> ...` command line, checked as Hydra would
    read them. Hydra's own options (--help, --cfg, ...) and hydra.* keys are left to Hydra."""
    args, unknown = get_args_parser().parse_known_args(argv)
    if unknown or args.help or args.hydra_help or args.shell_completion or args.info \
            or args.experimental_rerun or args.config_path or args.config_dir:
        return
    check_overrides(config_dir, args.config_name or config_name, args.overrides)


def check_overrides(config_dir: str, config_name: str, overrides: list[str]) -> None:
    try:
        parsed = [o for o in OverridesParser.create().parse_overrides(overrides) if not o.is_hydra_override()]
        groups = [o for o in parsed if "/" in o.key_or_group or (Path(config_dir) / o.key_or_group).is_dir()]
    except Exception:  # a malformed override: Hydra's own message names it
        return
    for group in groups:
        _check_option(config_dir, group)
    try:
        with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
            cfg = compose(config_name, overrides=[_first_choice(o) for o in groups])
    except Exception:  # anything else Hydra refuses: its own message names it
        return
    added: list[str] = []
    keys = [o for o in parsed if o not in groups]
    for override in keys:
        _check_key(cfg, override, added)
        if override.is_add() or override.is_force_add():
            added.append(override.key_or_group)
    set_keys = {o.key_or_group for o in keys if o.value() is not None}  # `ckpt_path=null` sets nothing
    for path in _paths(cfg):
        if path not in set_keys and _is_missing(cfg, path):
            raise StockrnnError(f"{path} is required: {REQUIRED.get(path, f'set {path}=...')}")


def _check_option(config_dir: str, group: Override) -> None:
    """`model=GRU`: an option the group does not have is one line with the options it has (Hydra's
    own message is a block with its search path)."""
    options = sorted(path.stem for path in (Path(config_dir) / group.key_or_group).glob("*.yaml"))
    if not options or group.value() is None:  # not one of ours (a plugin's group), or `~group`
        return
    chosen = list(group.sweep_string_iterator()) if group.is_sweep_override() else [str(group.value())]
    for option in chosen:
        if option not in options:
            close = difflib.get_close_matches(option.casefold(), options, n=1, cutoff=SIMILAR)
            hint = f"; did you mean {group.key_or_group}={close[0]}?" if close else ""
            raise StockrnnError(f"{group.key_or_group}={option}: no such option; expected one of "
                                f"{', '.join(options)}{hint}")


def _first_choice(group: Override) -> str:
    """A group override as one choice: in a sweep over options, the first one shapes the config."""
    if not group.is_sweep_override():
        return group.input_line
    return f"{group.get_key_element()}={next(group.sweep_string_iterator())}"


def _check_key(cfg: DictConfig, override: Override, added: list[str]) -> None:
    key = override.key_or_group
    if _node(cfg, key) is not None or any(key.startswith(a + ".") or key == a for a in added):
        return
    parent, _, name = key.rpartition(".")
    target, params = _target_params(cfg, parent)
    if override.is_add() or override.is_force_add():
        if target is None or params is None or name in params or name in INSTANTIATE_KEYS:
            return  # a new node, or one whose target takes the key (or any key)
        candidates = [f"{parent}.{p}" for p in params] + _paths(cfg)
        raise StockrnnError(f"{override.input_line}: {parent} is a {target}, which takes no argument "
                            f"{name}{_did_you_mean(key, candidates, cfg, parent)}")
    if params is not None and name in params:
        raise StockrnnError(f"{key} is not in the config, but {parent} ({target}) takes it: "
                            f"add it with +{override.input_line}")
    raise StockrnnError(f"unknown key {key}{_did_you_mean(key, _paths(cfg), cfg, parent)}")


def _did_you_mean(key: str, candidates: list[str], cfg: DictConfig, parent: str) -> str:
    """The closest candidates (those nearly as close as the best one), else the keys beside it."""
    scored = sorted(((difflib.SequenceMatcher(None, key, c).ratio(), c) for c in dict.fromkeys(candidates)),
                    reverse=True)
    close = [c for score, c in scored[:3] if score >= max(SIMILAR, scored[0][0] - NEARLY)]
    if close:
        listed = close[0] if len(close) == 1 else ", ".join(close[:-1]) + " or " + close[-1]
        return f"; did you mean {listed}?"
    node = _node(cfg, parent) if parent else cfg
    if isinstance(node, DictConfig):
        return f"; the keys of {parent or 'the config'}: {', '.join(str(k) for k in node.keys())}"
    return ""


def _node(cfg: DictConfig, key: str):
    """The config node at a dotted key, without resolving interpolations; None where there is none.
    Keys inside a list are taken as they are (Hydra checks an index itself)."""
    node = cfg
    for part in key.split("."):
        if isinstance(node, ListConfig):
            return node
        if not isinstance(node, DictConfig) or part not in node.keys():
            return None
        node = node._get_node(part)
    return node


def _target_params(cfg: DictConfig, key: str) -> tuple[str | None, list[str] | None]:
    """The `_target_` of the node at `key` and the arguments it takes (None: any, or not known)."""
    node = _node(cfg, key) if key else cfg
    if not isinstance(node, DictConfig) or not isinstance(node.get("_target_"), str):
        return None, None
    target = node.get("_target_")
    try:
        parameters = inspect.signature(get_object(target)).parameters.values()
    except Exception:  # not importable here, or no signature: instantiate reports it
        return target, None
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return target, None
    return target, [p.name for p in parameters if p.kind is not p.VAR_POSITIONAL]


def _paths(cfg: DictConfig, prefix: str = "") -> list[str]:
    """Every dotted key of the config, nodes and leaves, without resolving interpolations."""
    return list(_walk(cfg, prefix))


def _walk(node: DictConfig, prefix: str) -> Iterator[str]:
    for name in node.keys():
        path = f"{prefix}{name}"
        yield path
        child = node._get_node(name)
        if isinstance(child, DictConfig) and not child._is_none() and not child._is_missing():
            yield from _walk(child, path + ".")


def _is_missing(cfg: DictConfig, path: str) -> bool:
    parent, _, name = path.rpartition(".")
    node = _node(cfg, parent) if parent else cfg
    return isinstance(node, DictConfig) and OmegaConf.is_missing(node, name)
