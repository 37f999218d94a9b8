"""The command line shows hoot's log records, even after a library's logging.config call disabled them."""

from __future__ import annotations

import logging

from hoot.cli.main import main


def test_a_command_re_enables_hoots_loggers_and_shows_their_records(capsys):
    progress = logging.getLogger("hoot.trainer.training.context")
    progress.disabled = True  # what alembic's fileConfig does to every existing logger
    try:
        assert main(["catalog", "list", "--family", "ResNet"]) == 0
        assert progress.disabled is False
        logging.getLogger("hoot.test").info("progress line")
        assert "hoot: progress line" in capsys.readouterr().err
    finally:
        progress.disabled = False
