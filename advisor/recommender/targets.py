"""Load `advisor/recommender/targets.yaml`: deployment targets as data (budgets, ranking weights, picks).

The recommender reads a target's budgets and weights from here instead of branching on
its name, so a target is changed by editing cited data, not code. Validation names the
target and the field. No torch import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from hoot.advisor.catalog import MEMORY_TIERS, SPEED_CLASSES, TARGETS, TASKS
from hoot.advisor.errors import HootError

#: budget kind -> what its value must be
BUDGET_KINDS: dict[str, str] = {
    "max_params": "number",
    "max_gmacs": "number",
    "max_weights_mb": "number",
    "memory_tiers": "memory_tiers",
    "speed_classes": "speed_classes",
}
_SEED_REF = re.compile(r"seeds/(\d{3})")


@dataclass(frozen=True)
class Budget:
    """One hard limit of a target, with the document rule behind it."""

    kind: str  # a BUDGET_KINDS key
    value: Any  # a number, or a tuple of allowed tiers/classes
    source: str
    tasks: tuple[str, ...] = TASKS  # the tasks it applies to
    set_by: str | None = None  # the named variant whose figure sets the bound

    def applies_to(self, task: str) -> bool:
        return task in self.tasks


@dataclass(frozen=True)
class Ranking:
    """Weights of the ranking score (see targets.yaml header)."""

    accuracy: float
    cost: float
    document: float
    dataset_fit: float
    rule: str | None = None  # hoot's own numbers: the reasoning behind them, not a document's


@dataclass(frozen=True)
class MeasureDefaults:
    """Which stored setting a target ranks on by default, and which memory it compares (hoot's rule)."""

    device: str | None  # cpu | cuda | None (whichever the store has, GPU first)
    dtype: str  # fp32 | half (fp16 or bf16, whichever was measured)
    batch_size: int | str  # a batch, or "throughput": the largest batch measured in that device and precision
    memory: str  # inference | train
    rule: str
    #: runtimes to rank on, first stored wins; eager last, so a store without on-device rows ranks on eager
    runtimes: tuple[str, ...] = ("eager",)


@dataclass(frozen=True)
class NamedPick:
    """Variants a document names for a target (or for a task), in one role."""

    role: str
    tasks: tuple[str, ...]
    variants: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class Mention:
    """A model the documents name that torchvision does not provide: mentioned, never picked."""

    name: str
    tasks: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class Target:
    name: str
    title: str
    rule: str
    budgets: tuple[Budget, ...]
    ranking: Ranking
    picks: tuple[NamedPick, ...]
    not_in_torchvision: tuple[Mention, ...]
    after_selection: tuple[str, ...]
    measure: MeasureDefaults = MeasureDefaults(None, "fp32", 1, "inference", "")

    def budgets_for(self, task: str) -> list[Budget]:
        return [b for b in self.budgets if b.applies_to(task)]


@dataclass(frozen=True)
class TargetBook:
    """Everything in targets.yaml."""

    seeds: dict[str, str]  # "000" -> seed file name
    roles: dict[str, float]  # role -> bonus
    default_ranking: Ranking
    common_picks: tuple[NamedPick, ...]
    common_not_in_torchvision: tuple[Mention, ...]
    targets: dict[str, Target]
    default_measure: MeasureDefaults = MeasureDefaults(None, "fp32", 1, "train", "")
    roles_rule: str = ""

    def get(self, name: str) -> Target:
        """The target called `name`, or a HootError listing the valid ones."""
        if name not in self.targets:
            raise HootError(f"unknown target '{name}'; use one of {', '.join(self.targets)}")
        return self.targets[name]

    def roles_for(self, target: Target | None, task: str) -> dict[str, NamedPick]:
        """variant name -> the strongest document pick naming it for this target and task."""
        groups = list(self.common_picks) + (list(target.picks) if target else [])
        best: dict[str, NamedPick] = {}
        for group in groups:
            if task not in group.tasks:
                continue
            for name in group.variants:
                old = best.get(name)
                if old is None or self.roles[group.role] > self.roles[old.role]:
                    best[name] = group
        return best

    def mentions_for(self, target: Target | None, task: str) -> list[Mention]:
        pool = list(self.common_not_in_torchvision) + (list(target.not_in_torchvision) if target else [])
        return [m for m in pool if task in m.tasks]


def _need(raw: dict, key: str, where: str, kind: type | tuple[type, ...]) -> Any:
    if key not in raw:
        raise HootError(f"{where}: missing field '{key}'")
    value = raw[key]
    if not isinstance(value, kind) or isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise HootError(f"{where}: field '{key}' is {value!r}, expected {getattr(kind, '__name__', kind)}")
    return value


def _tasks(raw: dict, where: str, default: tuple[str, ...] = TASKS) -> tuple[str, ...]:
    tasks = tuple(raw.get("tasks", default))
    bad = [t for t in tasks if t not in TASKS]
    if bad:
        raise HootError(f"{where}: unknown task '{bad[0]}', expected one of {', '.join(TASKS)}")
    return tasks


def _ranking(raw: Any, where: str) -> Ranking:
    if not isinstance(raw, dict):
        raise HootError(f"{where}: 'ranking' must be a mapping of weights")
    weights = {}
    for key in ("accuracy", "cost", "document", "dataset_fit"):
        value = _need(raw, key, f"{where} ranking", (int, float))
        if value < 0:
            raise HootError(f"{where} ranking: weight '{key}' is {value}, expected >= 0")
        weights[key] = float(value)
    rule = _need(raw, "rule", f"{where} ranking", str)
    if not rule.startswith("hoot's rule"):
        raise HootError(f"{where} ranking: 'rule' must start with \"hoot's rule\" (the weights are hoot's own numbers)")
    return Ranking(**weights, rule=rule)


def _measure(raw: Any, where: str) -> MeasureDefaults:
    if not isinstance(raw, dict):
        raise HootError(f"{where}: 'measure' must be a mapping (device, dtype, batch_size, memory, rule)")
    device = raw.get("device")
    if device not in (None, "cpu", "cuda"):
        raise HootError(f"{where} measure: device is {device!r}, expected cpu, cuda or null")
    dtype = raw.get("dtype", "fp32")
    if dtype not in ("fp32", "half", "fp16", "bf16"):
        raise HootError(f"{where} measure: dtype is {dtype!r}, expected fp32, half, fp16 or bf16")
    batch = raw.get("batch_size", 1)
    if batch != "throughput" and (not isinstance(batch, int) or isinstance(batch, bool) or batch < 1):
        raise HootError(f"{where} measure: batch_size is {batch!r}, expected a positive whole number or throughput")
    memory = raw.get("memory", "inference")
    if memory not in ("inference", "train"):
        raise HootError(f"{where} measure: memory is {memory!r}, expected inference or train")
    runtimes = raw.get("runtimes", ["eager"])
    if not isinstance(runtimes, list) or not runtimes or runtimes[-1] != "eager" \
            or not all(isinstance(r, str) for r in runtimes):
        raise HootError(f"{where} measure: runtimes is {runtimes!r}, expected a list of runtime names ending in eager")
    return MeasureDefaults(device, dtype, batch, memory, _need(raw, "rule", f"{where} measure", str), tuple(runtimes))


def _budget(kind: str, raw: Any, where: str) -> Budget:
    if kind not in BUDGET_KINDS:
        raise HootError(f"{where}: unknown budget '{kind}', expected one of {', '.join(BUDGET_KINDS)}")
    if not isinstance(raw, dict):
        raise HootError(f"{where}: budget '{kind}' must be a mapping with value and source")
    label = f"{where} budget '{kind}'"
    source = _need(raw, "source", label, str)
    value = raw.get("value")
    expect = BUDGET_KINDS[kind]
    if expect == "number":
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise HootError(f"{label}: value is {value!r}, expected a positive number")
    else:
        allowed = MEMORY_TIERS if expect == "memory_tiers" else SPEED_CLASSES
        if not isinstance(value, list) or not value or any(v not in allowed for v in value):
            raise HootError(f"{label}: value is {value!r}, expected a list from {', '.join(allowed)}")
        value = tuple(value)
    return Budget(kind, value, source, _tasks(raw, label), raw.get("set_by"))


def _picks(raw: Any, roles: dict[str, float], where: str) -> tuple[NamedPick, ...]:
    out = []
    for i, item in enumerate(raw or []):
        label = f"{where} pick #{i + 1}"
        role = _need(item, "role", label, str)
        if role not in roles:
            raise HootError(f"{label}: unknown role '{role}', expected one of {', '.join(roles)}")
        variants = tuple(_need(item, "variants", label, list))
        out.append(NamedPick(role, _tasks(item, label), variants, _need(item, "source", label, str)))
    return tuple(out)


def _mentions(raw: Any, where: str) -> tuple[Mention, ...]:
    return tuple(
        Mention(_need(m, "name", where, str), _tasks(m, where), _need(m, "source", where, str)) for m in raw or []
    )


def parse_targets(text: str, where: str = "targets.yaml") -> TargetBook:
    """Parse and validate targets YAML; every problem is a HootError naming target and field."""
    try:
        doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise HootError(f"{where}: malformed YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict) or doc.get("schema_version") != 1:
        raise HootError(f"{where}: expected a mapping with schema_version: 1")
    roles = {str(k): float(v) for k, v in _need(doc, "roles", where, dict).items()}
    seeds = {str(k): str(v) for k, v in _need(doc, "seeds", where, dict).items()}
    targets: dict[str, Target] = {}
    for name, raw in _need(doc, "targets", where, dict).items():
        label = f"{where}: target '{name}'"
        if name not in TARGETS:
            raise HootError(f"{label}: not a catalog target ({', '.join(TARGETS)})")
        budgets = tuple(_budget(k, v, label) for k, v in (raw.get("budgets") or {}).items())
        targets[name] = Target(
            name=name,
            title=_need(raw, "title", label, str),
            rule=_need(raw, "rule", label, str),
            budgets=budgets,
            ranking=_ranking(raw.get("ranking"), label),
            picks=_picks(raw.get("picks"), roles, label),
            not_in_torchvision=_mentions(raw.get("not_in_torchvision"), label),
            after_selection=tuple(raw.get("after_selection") or ()),
            measure=_measure(_need(raw, "measure", label, dict), label),
        )
    missing = [t for t in TARGETS if t not in targets]
    if missing:
        raise HootError(f"{where}: target '{missing[0]}' is not defined")
    book = TargetBook(
        seeds=seeds,
        roles=roles,
        default_ranking=_ranking(doc.get("default_ranking"), f"{where} default"),
        common_picks=_picks(doc.get("common_picks"), roles, f"{where} common"),
        common_not_in_torchvision=_mentions(doc.get("common_not_in_torchvision"), f"{where} common"),
        targets=targets,
        default_measure=_measure(_need(doc, "default_measure", where, dict), f"{where} default"),
        roles_rule=_need(doc, "roles_rule", where, str),
    )
    unknown = sorted(set(_SEED_REF.findall(text)) - set(seeds))
    if unknown:
        raise HootError(f"{where}: cites seeds/{unknown[0]}, which the 'seeds' map does not name")
    return book


@lru_cache(maxsize=1)
def load_targets() -> TargetBook:
    """The shipped targets (cached: one parse per process)."""
    text = resources.files("hoot.advisor.recommender").joinpath("targets.yaml").read_text(encoding="utf-8")
    return parse_targets(text)
