#!/usr/bin/env python
"""Regenerate the fact fields of catalog.yaml from each entry's source (offline).

Maintainer script. Every provided entry gets the facts its source reads (hoot.bench.sources:
torchvision's weights metadata for the DEFAULT weights; timm's pretrained config and published
table with hoot's FLOP count; smp's encoders), and keeps every hand-written judgement field
(memory tier, speed class, task builders, targets, dataset sizes, seed figures, sources, notes,
year, paper, ...). Entries that are `provided: false` are kept as they are, except the
documents' models that timm or smp now provide (tools/catalog_zoo.py NAMED), which are promoted.
A torchvision builder new to the catalog, and with `--select-timm` each timm model the
family rule picks (tools/catalog_zoo.py), gets a *proposed* judgement from hoot's size/cost
rules (tools/catalog_rules.py) and a note saying so: review it before committing.

    python tools/regen_catalog.py                 # rewrite catalog.yaml
    python tools/regen_catalog.py --select-timm   # also add timm's family picks (minutes: counts every candidate)
    python tools/regen_catalog.py --check         # exit 1 if the file would change (CI, review)
    python tools/regen_catalog.py --catalog other.yaml --output -   # print instead

Output is deterministic: same packages + same input file -> byte-identical YAML.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from hoot.advisor.catalog import SCHEMA_VERSION, Variant  # noqa: E402
from hoot.advisor.truth import FACT_FIELDS  # noqa: E402
from hoot.bench.sources import source_named  # noqa: E402
from catalog_identity import identity  # noqa: E402
from catalog_rules import propose_judgement  # noqa: E402
import catalog_zoo as zoo  # noqa: E402

TORCHVISION = source_named("torchvision")
torchvision_builders = TORCHVISION.builders
torchvision_facts = TORCHVISION.facts
torchvision_version = TORCHVISION.version


#: Field order in the YAML: the order of `advisor.catalog.Variant`.
FIELD_ORDER = [f for f in Variant.__dataclass_fields__]

HEADER = """\
# hoot model catalog: one entry per variant.
#
# FACTS (kind, weights, weights_dataset, params, gmacs, crop_size, resize_size, top1, top5,
# metrics, weights_file_mb, weights_file, weights_license) are the entry's source's metadata,
# written by tools/regen_catalog.py and checked by `hoot catalog check` /
# tests/catalog_tests/test_truth.py. `source` names the package (default torchvision).
# - torchvision {tv}: the weights metadata of the builder's DEFAULT weights; gmacs = its "GFLOPS",
#   which count multiply-adds (1 MAC = 2 FLOPs).
# - timm {timm}: the default pretrained config (weight tag, native size, crop, licence), top-1/top-5
#   of timm's published ImageNet table at that size (tools/data/README.md); params and gmacs counted
#   by hoot (bench.flops) at the native size.
# - smp {smp}: ImageNet encoder weights only (smp ships no trained heads); params and gmacs at 21
#   classes and 512 px (sides must be multiples of 32).
# Sizes in pixels, file sizes in MB, accuracies in %.
#
# JUDGEMENT (memory_tier, speed_class, task_builders, targets, dataset_sizes, seed_figures,
# sources, notes) encodes the seed documents (the project's seeds/ folder), cited by file name
# in `sources`, or hoot's own rule; `basis` says which for every judgement. seed_figures keep a
# document's own figures beside the source's (docs/catalog.md).
# Edit judgement here by hand; never edit facts by hand (rerun tools/regen_catalog.py).
"""

# ---------------------------------------------------------------------------------------------
# Merge and write
# ---------------------------------------------------------------------------------------------


def regenerate(existing: list[dict[str, Any]], builders: dict[str, str] | None = None,
               timm_picks: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
    """New entry list: existing entries (in their order) with fresh facts, then new builders.

    `builders`: torchvision's (default: the installed ones); `timm_picks`: family -> timm
    models to add where missing (tools/catalog_zoo.selected_timm; None adds none)."""
    builders = torchvision_builders() if builders is None else builders
    own: dict[str, dict[str, str]] = {"torchvision": builders}
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for entry in existing:
        entry = promote(entry) or entry
        name = entry["name"]
        seen.add(name)
        if not entry.get("provided", True):
            out.append(dict(entry))
            continue
        source_name = entry.get("source", "torchvision")
        source = source_named(source_name)
        if source_name not in own:
            own[source_name] = source.builders()
        if name not in own[source_name]:
            print(f"regen_catalog: warning: '{name}' is provided but {source.label()} "
                  "has no such builder; kept as is (hoot catalog check will flag it)", file=sys.stderr)
            out.append(dict(entry))
            continue
        merged = dict(entry)
        merged.update(source.facts(name, own[source_name][name]))
        merged["provided"] = True
        out.append(merged)
    kind_order = {"classification": 0, "detection": 1, "segmentation": 2}
    new = sorted((n for n in builders if n not in seen), key=lambda n: (kind_order[builders[n]], n))
    for name in new:
        facts = torchvision_facts(name, builders[name])
        entry = {"name": name, **identity(name), "provided": True, **facts, **propose_judgement(name, facts)}
        print(f"regen_catalog: added '{name}' with a proposed judgement; review it", file=sys.stderr)
        out.append(entry)
    timm = source_named("timm")
    for family, names in (timm_picks or {}).items():
        for name in names:
            if name in seen:
                continue
            facts = timm.facts(name)
            judgement = propose_judgement(name, facts)
            judgement["notes"] = zoo.family_note(name) + " " + judgement["notes"]
            entry = {"name": name, **zoo.timm_identity(name), "source": "timm", "provided": True, **facts, **judgement}
            print(f"regen_catalog: added timm '{name}' ({family}) with a proposed judgement; review it", file=sys.stderr)
            out.append(entry)
    return [_ordered(e) for e in out]


def promote(entry: dict[str, Any]) -> dict[str, Any] | None:
    """A documents' not-provided entry that timm or smp now builds, as a provided entry (None: not one).

    Name, source and facts from the source; the documents' mention stays in `sources` and
    `notes`; judgement from hoot's rules except where the documents judge it (zoo.NAMED_BASIS)."""
    if entry.get("provided", True) or entry["name"] not in zoo.NAMED:
        return None
    name, source_name = zoo.NAMED[entry["name"]]
    facts = source_named(source_name).facts(name)
    judgement = propose_judgement(name, facts)
    for key, basis in zoo.NAMED_BASIS.get(name, {}).items():
        field, _, value = key.partition(".")
        if value and value not in judgement[field]:
            judgement[field].append(value)
        judgement["basis"][key] = dict(basis)
    judgement["targets"] = [t for t in ("mobile", "edge", "cpu-server", "gpu-server", "research", "production")
                            if t in judgement["targets"]]
    judgement["sources"] = list(entry.get("sources", []))
    judgement["notes"] = (f"{entry.get('notes', '')} Provided by {source_named(source_name).package} as '{name}' "
                          f"(was '{entry['name']}' when no package hoot uses built it). {judgement['notes']}").strip()
    promoted = {k: v for k, v in entry.items() if k in ("family", "display_name", "year", "paper")}
    promoted["display_name"] = zoo.NAMED_DISPLAY.get(name, promoted["display_name"])
    print(f"regen_catalog: promoted '{entry['name']}' to provided '{name}' ({source_name}); review its judgement",
          file=sys.stderr)
    return {"name": name, **promoted, "kind": facts["kind"], "source": source_name, "provided": True,
            **facts, **judgement}


def _ordered(entry: dict[str, Any]) -> dict[str, Any]:
    """Fields in Variant order; empty optional collections and nulls for absent facts kept explicit."""
    out = {k: entry[k] for k in FIELD_ORDER if k in entry}
    for k in FACT_FIELDS:
        if entry.get("provided", True):
            out.setdefault(k, None)
    # written only where they say something: torchvision entries keep their short form
    if out.get("weights_license") is None:
        out.pop("weights_license", None)
    if out.get("source") == "torchvision":
        out.pop("source")
    unknown = set(entry) - set(FIELD_ORDER)
    if unknown:
        raise SystemExit(f"regen_catalog: entry '{entry.get('name')}' has unknown fields {sorted(unknown)}")
    return out


class _Dumper(yaml.SafeDumper):
    """Block style for entries, flow style for short scalar lists ([mobile, edge])."""


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = all(not isinstance(x, (dict, list)) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(tuple, _represent_list)


def dump(entries: list[dict[str, Any]]) -> str:
    """The catalog as YAML text (deterministic)."""
    body = yaml.dump({"schema_version": SCHEMA_VERSION, "variants": entries}, Dumper=_Dumper,
                     sort_keys=False, allow_unicode=True, width=100, default_flow_style=False)
    # a blank line between entries keeps diffs and reading easy
    body = body.replace("\n- name: ", "\n\n- name: ")
    return HEADER.format(tv=torchvision_version(), timm=source_named("timm").version(),
                         smp=source_named("smp").version()) + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", default=str(ROOT / "catalog.yaml"), help="catalog to read (default: catalog.yaml)")
    parser.add_argument("--output", help="where to write (default: the --catalog file; '-' for stdout)")
    parser.add_argument("--select-timm", action="store_true",
                        help="also add the timm models tools/catalog_zoo.py's family rule picks (counts every candidate: minutes)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 (with a diff) if the file would change")
    args = parser.parse_args(argv)

    path = Path(args.catalog)
    old_text = path.read_text(encoding="utf-8") if path.exists() else ""
    doc = yaml.safe_load(old_text) if old_text else {"variants": []}
    picks = zoo.selected_timm() if args.select_timm else None
    new_text = dump(regenerate(doc.get("variants") or [], timm_picks=picks))
    if args.check:
        if new_text == old_text:
            print(f"ok: {path} is up to date with torchvision {torchvision_version()}", file=sys.stderr)
            return 0
        sys.stdout.writelines(difflib.unified_diff(old_text.splitlines(True), new_text.splitlines(True),
                                                   str(path), "regenerated"))
        print(f"{path} would change: run tools/regen_catalog.py", file=sys.stderr)
        return 1
    if args.output == "-":
        sys.stdout.write(new_text)
    else:
        Path(args.output or path).write_text(new_text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
