"""`interlock serve` announces its URL only once uvicorn accepts connections."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest

from interlock.cli import announce_when_started


@dataclass
class _Server:
    """uvicorn.Server's two flags, flipped by the test as uvicorn would."""

    started: bool = False
    should_exit: bool = False


def test_the_banner_waits_for_the_socket(capsys: pytest.CaptureFixture[str]) -> None:
    server = _Server()
    result: list[bool] = []
    thread = threading.Thread(
        target=lambda: result.append(announce_when_started(server, ["serving"], poll_s=0.01))
    )
    thread.start()
    time.sleep(0.1)
    assert capsys.readouterr().out == ""  # still loading: nothing printed yet
    server.started = True
    thread.join(timeout=2)
    assert result == [True]
    assert capsys.readouterr().out == "serving\n"


def test_no_banner_when_the_server_stops_before_serving(
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = _Server(should_exit=True)
    assert announce_when_started(server, ["serving"], poll_s=0.01) is False
    assert capsys.readouterr().out == ""
