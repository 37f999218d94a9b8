"""The Hugging Face hub cache, where timm and segmentation-models-pytorch keep weights files.

Its folder is read from the environment at call time (HF_HUB_CACHE, else HF_HOME/hub, else
~/.cache/huggingface/hub, as huggingface_hub resolves it), so a test or a user can point it
elsewhere after huggingface_hub was imported. A file is looked up with huggingface_hub's own
`try_to_load_from_cache`: no network.
"""

from __future__ import annotations

import os
from pathlib import Path

from hoot.bench.sources.base import WeightsFile


def hub_cache_dir() -> Path:
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def hub_weights_file(repo_id: str, filename: str, revision: str | None = None) -> WeightsFile:
    """Where the hub cache keeps `filename` of `repo_id` (at `revision`, else the cached main)."""
    from huggingface_hub import try_to_load_from_cache

    cache = hub_cache_dir()
    found = try_to_load_from_cache(repo_id, filename, cache_dir=str(cache), revision=revision)
    repo_dir = cache / f"models--{repo_id.replace('/', '--')}"
    if isinstance(found, str):
        path = Path(found)
    else:
        path = repo_dir / "snapshots" / (revision or "<commit>") / filename
    url = f"https://huggingface.co/{repo_id}/resolve/{revision or 'main'}/{filename}"
    ref = "" if revision else f" and the commit into {repo_dir / 'refs' / 'main'}"
    place = (f"{path.parent}/{ref} (`huggingface-cli download {repo_id} {filename}"
             f"{' --revision ' + revision if revision else ''}` does this)")

    def fetch() -> Path:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo_id, filename, revision=revision, cache_dir=str(cache)))

    return WeightsFile(path=path, url=url, cache=f"the Hugging Face hub cache ({cache})", place=place, fetch=fetch)
