"""Candidates for a bake-off: named by the user, or picked by the advisor with the same options
`hoot advise` takes, so advise and shortlist speak one language. The advisor's limits (and a
target's budgets) hold for named candidates too: one a limit excludes is dropped, and said so."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hoot.advisor.errors import HootError, NoAnswer

if TYPE_CHECKING:
    from hoot.advisor.recommender.advice import Advice


def parse_candidates(text: str | None) -> list[str]:
    if text is None:  # not given: the advisor picks; given but empty ("" or ",,") is an error
        return []
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise HootError("--candidates is empty; give model names separated by commas, e.g. mobilenet_v3_small,resnet18")
    return names


def _advice(task: str, top_k: int, dataset_size: int | None, median_px: float | None, limits: dict[str, Any],
            target: str | None) -> "Advice":
    """The advisor's ranking for this machine's measurements, read and reduced to one setting
    exactly as `hoot advise` does (bench.advice_inputs). NoAnswer when nothing satisfies it."""
    from hoot.advisor.recommender.recommend import Request, recommend
    from hoot.advisor.recommender.settings import SettingWish
    from hoot.advisor.recommender.targets import load_targets
    from hoot.bench.advice_inputs import advice_inputs

    book = load_targets()
    request = Request(task=task, target=target,
                      dataset_size=dataset_size, median_short_side_px=median_px, top_k=top_k, **limits)
    inputs = advice_inputs(None, "this", SettingWish(), book, target, request.task)
    return recommend(request, book=book, measurements=inputs.costs, hardware=inputs.hardware,
                     setting=inputs.setting_label, train_measurements=inputs.train_costs, speedups=inputs.speedups)


def advised_candidates(task: str, top_k: int, dataset_size: int | None, median_px: float | None,
                       limits: dict[str, Any], target: str | None = None) -> tuple[list[str], list[str]]:
    """(names, one reason line per name) from hoot.advisor.recommender.recommend for this machine's measurements."""
    try:
        advice = _advice(task, max(top_k, RANKED_POOL), dataset_size, median_px, limits, target)
    except NoAnswer as exc:
        raise HootError(f"the advisor finds no candidate for these limits ({exc.format_message()}); relax them or pass --candidates")
    chosen = spread_families([(p.variant.name, p.variant.family) for p in advice.picks], top_k)
    by_name = {p.variant.name: p for p in advice.picks}
    reasons = [f"{n}: {'; '.join(by_name[n].reasons[:2])}" for n in chosen]
    return chosen, reasons


def limit_candidates(names: list[str], task: str, limits: dict[str, Any],
                     target: str | None = None) -> tuple[list[str], list[str]]:
    """(the named candidates the limits and target admit, one line per candidate dropped naming the
    limit). A name the advisor does not rank for the task is kept: the run's own check refuses it
    with its reason. HootError in one line when no candidate is left."""
    from hoot.advisor.recommender.explanation import NoModelFits

    try:
        advice = _advice(task, 1, None, None, limits, target)
    except NoModelFits as exc:  # nothing in the catalog fits: every check is still recorded
        advice = exc.advice
    except NoAnswer as exc:
        raise HootError(f"--candidates cannot be checked against the limits ({exc.format_message()}); relax them")
    kept, dropped = [], []
    for name in names:
        failed = [f"{label}: {text}" for label, ok, text in advice.checks.get(name, []) if not ok]
        if failed:
            dropped.append(f"{name} ({'; '.join(failed)})")
        else:
            kept.append(name)
    if not kept:
        raise HootError(f"no candidate in --candidates meets the limits: {', '.join(dropped)}; relax the limits "
                        "or name other candidates")
    return kept, dropped


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
