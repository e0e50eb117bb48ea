"""The log-head footer of a digest: in every format, the last thing in the body, within the limit,
never cut when the entries are, and in the exact words `monitor verify --witness` reads."""

from __future__ import annotations

import pytest

from monitor.alerts.render import LIMITS, render_digest
from monitor.store import parse_witness
from test_render import alert

HEAD = (1234, "ab" * 32)
COMMAND = f"monitor verify --witness 1234:{'ab' * 32}"


@pytest.mark.parametrize("fmt", ["markdown", "html", "text"])
def test_the_footer_names_the_head_and_the_command_to_check_it(fmt):
    message = render_digest([alert(1)], group_label="Gulf", group_by="region", group="gulf", fmt=fmt, witness=HEAD)
    last = message.body.splitlines()[-1]
    assert "seq 1234" in last and COMMAND in last
    witness = parse_witness(COMMAND.rsplit(" ", 1)[1])
    assert (witness.seq, witness.hash) == HEAD


@pytest.mark.parametrize("fmt", ["markdown", "html", "text"])
def test_the_footer_survives_a_digest_cut_to_the_limit(fmt):
    alerts = [alert(n) for n in range(1, 400)]
    message = render_digest(alerts, group_label="Gulf", group_by="region", group="gulf", fmt=fmt, witness=HEAD)
    assert len(message.body) <= LIMITS[fmt]
    assert COMMAND in message.body.splitlines()[-1]
    assert "more" in message.body  # entries were summarised, the footer was not


def test_without_a_witness_there_is_no_footer():
    message = render_digest([alert(1)], group_label="Gulf", group_by="region", group="gulf", fmt="text")
    assert "witness" not in message.body


@pytest.mark.parametrize("text", ["", "12", "12:", ":" + "a" * 64, "0:" + "a" * 64, "1:" + "g" * 64, "x:" + "a" * 64])
def test_malformed_witnesses_are_refused(text):
    with pytest.raises(ValueError):
        parse_witness(text)
