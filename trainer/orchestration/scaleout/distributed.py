"""torchrun's entry point for hoot's DDP fine-tune: `python -m hoot.trainer.orchestration.scaleout.distributed SPEC.json`.

The launcher and the rank's work live in hoot.trainer.orchestration.scaleout.launch, the rank-level DDP
helpers in hoot.trainer.training.ddp; this module is only the stable name torchrun starts (with
PYTHONSAFEPATH=1, so a user's own ./trainer/ or ./hoot/ cannot shadow it).
"""

from __future__ import annotations

import sys
from pathlib import Path

from hoot.advisor.errors import HootError
from hoot.trainer.orchestration.scaleout.launch import rank_main


def main(argv: list[str]) -> int:
    """One rank; a bad input is one `hoot: error:` line and exit 2, as in the CLI."""
    if len(argv) != 1:
        sys.stderr.write("usage: python -m torch.distributed.run ... -m hoot.trainer.orchestration.scaleout.distributed SPEC.json\n")
        return 2
    import logging

    logging.basicConfig(level=logging.INFO, format="hoot: %(message)s")  # a rank is its own program
    try:
        return rank_main(Path(argv[0]))
    except HootError as exc:
        sys.stderr.write(f"hoot: error: {exc.format_message()}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
