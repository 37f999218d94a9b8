"""The advisor's limits hold for named candidates too (issue 21): one limit option, one parser."""

from __future__ import annotations

import pytest

from hoot.advisor.errors import HootError
from hoot.cli.main import main


def test_limits_drop_named_candidates_and_say_which(shapes, tmp_path, monkeypatch, capsys):
    import hoot.trainer.orchestration.shortlist as shortlist

    seen = []

    def record(config, *args, **kwargs):
        seen.append(config.candidates)
        raise HootError("recorded")

    monkeypatch.setattr(shortlist, "run_local", record)
    argv = ["shortlist", str(shapes), "--candidates", "resnet18,mobilenet_v3_small,squeezenet1_1", "--no-pretrained",
            "--output", str(tmp_path / "out")]
    assert main(argv + ["--max-params", "3M"]) == 2
    err = capsys.readouterr().err
    assert seen == [["mobilenet_v3_small", "squeezenet1_1"]]
    assert "hoot: dropped candidate resnet18 (--max-params 3M: params 11.7M > 3M)" in err
    assert main(argv) == 2  # no limit: every named candidate runs, nothing said
    assert seen[-1] == ["resnet18", "mobilenet_v3_small", "squeezenet1_1"] and "dropped" not in capsys.readouterr().err


@pytest.mark.parametrize("command", ["advise", "shortlist"])
def test_both_commands_parse_a_limit_the_same_way(command, tmp_path, capsys):
    """One declaration (hoot.cli.options.advisor_limits): the same spelling, the same answer."""
    for value, says in (("-5M", "--max-params '-5M' is negative"), ("0", "--max-params '0' must be at least 1")):
        assert main([command, "--max-params", value]) == 2
        assert says in capsys.readouterr().err
    assert main([command, "--min-top1", "101"]) == 2
    assert "--min-top1 '101' must be at most 100" in capsys.readouterr().err
