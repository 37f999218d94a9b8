"""Which catalog variants `hoot bench` measures (--all, --models, --family, --target) and at which
batch sizes: the selection rules of the measuring command, kept apart from its options."""

from __future__ import annotations

from typing import Any

from hoot.advisor.catalog import Variant
from hoot.advisor.errors import HootError, NoAnswer

def parse_batch_sizes(text: str) -> tuple[int, ...]:
    """'1,32' -> (1, 32); anything else is a one-line error."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) <= 0:
            raise HootError(f"--batch-size '{text}': '{part}' is not a positive integer; e.g. --batch-size 1,32")
        if int(part) not in out:
            out.append(int(part))
    return tuple(out)


def select_variants(catalog: Any, all_: bool, models: str | None, family: str | None,
                    target: str | None) -> list[Variant]:
    """The variants to measure, validated (unknown names are one-line errors)."""
    if not (all_ or models or family or target):
        raise HootError("nothing to measure: pass --all, --models a,b, --family NAME or --target NAME")
    names = [m.strip() for m in models.split(",") if m.strip()] if models else None
    if names == []:  # "," or " , ": as much an error as "" is (issue 21)
        raise HootError(f"--models '{models}' names no model; give catalog names separated by commas, e.g. resnet18,vgg16")
    chosen = catalog.provided() if all_ and not names else catalog.select(names, None)
    if family:
        chosen = [v for v in catalog.select(None, family) if v in chosen]
    if target:
        picks = target_variants(catalog, target)
        chosen = [v for v in chosen if v.name in picks] if (names or family) else [catalog.get(n) for n in picks]
    missing = [v.name for v in chosen if not v.provided]
    if missing:
        raise HootError(f"'{missing[0]}' is listed for reference but no package hoot builds from provides it; "
                        "pick a provided variant (`hoot catalog`)")
    if not chosen:
        raise NoAnswer("no catalog variant matches that selection")
    return chosen


def target_variants(catalog: Any, target: str) -> list[str]:
    """The variants the advisor keeps for a deployment target (classification), in its rank order.

    Falls back to the catalog's `targets` field where the recommender is not available.
    """
    try:
        from hoot.advisor.recommender.recommend import Request, recommend
    except ImportError:  # pragma: no cover - a build without the recommender
        from hoot.advisor.catalog import TARGETS

        if target not in TARGETS:
            raise HootError(f"--target '{target}' is unknown; use one of {', '.join(TARGETS)}") from None
        return [v.name for v in catalog.provided() if target in v.targets]
    advice = recommend(Request(task="classification", target=target, top_k=1), catalog=catalog)
    return list(advice.survivors)
