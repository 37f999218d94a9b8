"""Run one scale-out role against the toy engine: python -m hoot.testing.toy_main CONFIG_JSON OPTIONS_JSON."""

import json
import sys

from hoot.advisor.errors import HootError
from hoot.cli.main import configure_logging
from hoot.trainer.config import ShortlistConfig
from hoot.trainer.orchestration.scaleout import load_engine, run_shortlist

if __name__ == "__main__":
    configure_logging()  # as hoot.cli.main does: INFO and up on stderr as `hoot: ...`
    config = ShortlistConfig.from_dict(json.loads(sys.argv[1]))
    try:
        out = run_shortlist(config, json.loads(sys.argv[2]), engine=load_engine("hoot.testing.toy_engine"))
    except HootError as exc:
        print(f"hoot: error: {exc.format_message()}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # as hoot.cli.main does
        print("hoot: interrupted", file=sys.stderr)
        sys.exit(130)
    print(json.dumps(out if isinstance(out, list) else out.to_dict(), default=str))
