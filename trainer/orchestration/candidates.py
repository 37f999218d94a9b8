"""Candidates for a bake-off: named by the user, or picked by the advisor with the same options
`hoot advise` takes, so advise and shortlist speak one language."""

from __future__ import annotations

from typing import Any

from hoot.advisor.errors import HootError, NoAnswer


def parse_candidates(text: str | None) -> list[str]:
    if text is None:  # not given: the advisor picks; given but empty ("" or ",,") is an error
        return []
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise HootError("--candidates is empty; give model names separated by commas, e.g. mobilenet_v3_small,resnet18")
    return names


def advised_candidates(task: str, top_k: int, dataset_size: int | None, median_px: float | None,
                       limits: dict[str, Any], target: str | None = None) -> tuple[list[str], list[str]]:
    """(names, one reason line per name) from hoot.advisor.recommender.recommend for this machine's measurements."""
    from hoot.bench.advice_rows import load_measurements
    from hoot.advisor.recommender.recommend import Request, recommend

    found = load_measurements(None, "this")
    request = Request(task="multilabel" if task == "multilabel" else "classification", target=target,
                      dataset_size=dataset_size, median_short_side_px=median_px, top_k=max(top_k, RANKED_POOL), **limits)
    try:
        advice = recommend(request, measurements=found.ok_rows(), hardware=found.hardware,
                           setting=found.setting.label() if found.setting else None)
    except NoAnswer as exc:
        raise HootError(f"the advisor finds no candidate for these limits ({exc.format_message()}); relax them or pass --candidates")
    chosen = spread_families([(p.variant.name, p.variant.family) for p in advice.picks], top_k)
    by_name = {p.variant.name: p for p in advice.picks}
    reasons = [f"{n}: {'; '.join(by_name[n].reasons[:2])}" for n in chosen]
    return chosen, reasons


#: how the default candidates are chosen, said beside them
HOW_PICKED = ("picked by the advisor: the best-ranked model of each family first (a few architectures, "
              "seeds/001), then the next best; name others with --candidates")
#: how many of the advisor's ranked picks the family spread chooses from
RANKED_POOL = 40


def spread_families(ranked: list[tuple[str, str]], k: int) -> list[str]:
    """k names from (name, family) in rank order: the best of each family first (seeds/001: test a few
    architectures, not four sizes of one), then the next best of any family while fewer than k."""
    firsts, seen = [], set()
    for name, family in ranked:
        if family not in seen:
            seen.add(family)
            firsts.append(name)
    chosen = firsts[:k]
    chosen += [n for n, _ in ranked if n not in chosen][: k - len(chosen)]
    order = {n: i for i, (n, _) in enumerate(ranked)}
    return sorted(chosen, key=order.__getitem__)
