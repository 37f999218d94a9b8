"""Run one scale-out role against the toy engine: python toy_main.py CONFIG_JSON OPTIONS_JSON."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from advisor.cli import main as _unused  # noqa: F401  (same import path as the real CLI)
from advisor.errors import HootError
from trainer.config import ShortlistConfig
from trainer.scaleout import load_engine, run_shortlist

if __name__ == "__main__":
    config = ShortlistConfig.from_dict(json.loads(sys.argv[1]))
    try:
        out = run_shortlist(config, json.loads(sys.argv[2]), engine=load_engine("toy_engine"))
    except HootError as exc:
        print(f"hoot: error: {exc.format_message()}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # as advisor.cli.main does
        print("hoot: interrupted", file=sys.stderr)
        sys.exit(130)
    print(json.dumps(out, default=str))
