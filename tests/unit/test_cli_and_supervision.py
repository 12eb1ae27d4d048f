"""`docket token`'s lifetime and how `docket serve` supervises its roles: no servers needed."""

from __future__ import annotations

import asyncio
from itertools import islice

import jwt
import pytest

from api.auth import DEFAULT_TTL, issue_token
from workers.cli import main
from workers.serve import CannotStart, _supervised, restart_delays


@pytest.mark.parametrize("ttl", ["0", "-60", "soon"])
def test_docket_token_refuses_a_lifetime_of_zero_or_less_with_exit_2_and_says_why(ttl, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["token", "--tenant", "city", "--role", "manager", "--sub", "bo", "--ttl", ttl])
    assert exited.value.code == 2
    assert "lifetime in seconds must be a positive whole number" in capsys.readouterr().err


def test_a_token_lives_one_hour_unless_told_otherwise():
    claims = jwt.decode(issue_token("s" * 32, tenant="city", role="manager", sub="bo"), "s" * 32, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == DEFAULT_TTL == 3600


def test_restarts_wait_twice_as_long_each_time_up_to_thirty_seconds():
    assert list(islice(restart_delays(), 8)) == [1, 2, 4, 8, 16, 30, 30, 30]


def test_a_role_that_cannot_start_at_boot_ends_the_supervision_with_its_reason():
    async def boot() -> None:
        async def start() -> None:
            raise CannotStart("cannot listen on 127.0.0.1:8000: address already in use")

        await _supervised("api", start, asyncio.Event())

    with pytest.raises(CannotStart, match="address already in use"):
        asyncio.run(boot())


def test_a_role_that_fails_after_boot_is_restarted_even_when_it_then_cannot_start(caplog):
    attempts: list[str] = []

    async def supervise() -> None:
        stop = asyncio.Event()

        async def start() -> None:
            attempts.append("run")
            if len(attempts) == 1:
                raise RuntimeError("lost the database")
            if len(attempts) == 2:
                raise CannotStart("cannot listen on 127.0.0.1:8000: address already in use")
            stop.set()

        await _supervised("api", start, stop)

    asyncio.run(supervise())
    assert len(attempts) == 3
    failures = [r.getMessage() for r in caplog.records if "restarting in" in r.getMessage()]
    assert failures == [
        "api failed (RuntimeError: lost the database); restarting in 1s",
        "api failed (cannot listen on 127.0.0.1:8000: address already in use); restarting in 2s",
    ]


@pytest.mark.parametrize("value", ["0", "-2", "many"])
@pytest.mark.parametrize(("option", "what"), [("--processes", "the number of processes"), ("--batch", "the events per transaction")])
def test_docket_projections_rebuild_refuses_processes_or_batches_of_zero_or_less_with_exit_2_and_says_why(option, what, value, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["projections", "rebuild", "tickets", option, value])
    assert exited.value.code == 2
    assert f"{what} must be a positive whole number, got {value!r}" in capsys.readouterr().err
