"""Candidates for a bake-off: named by the user, or picked by the advisor with the same options
`hoot advise` takes, so advise and shortlist speak one language."""

from __future__ import annotations

from typing import Any

from hoot.advisor.errors import HootError, NoAnswer


def parse_candidates(text: str | None) -> list[str]:
    if not text:
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
    request = Request(task=task, target=target,
                      dataset_size=dataset_size, median_short_side_px=median_px, top_k=top_k, **limits)
    try:
        advice = recommend(request, measurements=found.ok_rows(), hardware=found.hardware,
                           setting=found.setting.label() if found.setting else None)
    except NoAnswer as exc:
        raise HootError(f"the advisor finds no candidate for these limits ({exc.format_message()}); relax them or pass --candidates")
    names = [p.variant.name for p in advice.picks]
    reasons = [f"{p.variant.name}: {'; '.join(p.reasons[:2])}" for p in advice.picks]
    return names, reasons
