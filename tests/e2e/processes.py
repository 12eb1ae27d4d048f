"""Runs `docket` as a user does: a separate process, its log in a file."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from workers.embedded import PASSWORDS, EmbeddedNats

DOCKET = [sys.executable, "-m", "workers.cli"]
ROOT = Path(__file__).resolve().parents[2]


def docket_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}
    env.update({"DOCKET_DATA_DIR": str(data_dir), **extra})
    return env


def roles_env(data_dir: Path, database_url: str, port: int, **extra: str) -> dict[str, str]:
    """Roles run apart, as compose.yaml runs them: on the test session's database and secrets."""
    from tests.conftest import CIPHER_KEY, JWT_SECRET

    return docket_env(
        data_dir,
        DOCKET_DATABASE_URL=database_url,
        DOCKET_HTTP_PORT=str(port),
        DOCKET_JWT_SECRET=JWT_SECRET,
        DOCKET_CIPHER_KEY=CIPHER_KEY,
        **extra,
    )


def docket(*args: str, env: dict[str, str], timeout: float = 120) -> str:
    result = subprocess.run([*DOCKET, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result.stdout


class Service:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen([*DOCKET, *args], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log.read_text()

    def wait_for_log(self, pattern: str, timeout: float = 60) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if match := re.search(pattern, self.text()):
                return match
            assert self.process.poll() is None, f"docket exited early:\n{self.text()}"
            time.sleep(0.1)
        raise AssertionError(f"{pattern!r} not logged within {timeout}s:\n{self.text()}")

    def wait_healthy(self, base_url: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"docket exited early:\n{self.text()}"
            try:
                if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"not healthy within {timeout}s:\n{self.text()}")

    def nats_url(self, data_dir: Path, user: str = "admin") -> str:
        """The URL of `docket serve`'s embedded nats-server as one of its users, whose passwords
        the service keeps in its data dir."""
        url = self.wait_for_log(r"embedded nats-server ready at (nats://\S+)").group(1)
        return EmbeddedNats(url, json.loads((data_dir / PASSWORDS).read_text())).url_for(user)

    def terminate(self, timeout: float = 30) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)
