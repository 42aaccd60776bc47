"""The one settings object, read from the environment (and `.env`) with documented defaults."""

from __future__ import annotations

import secrets
from datetime import datetime, time
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # Where the gateway and console listen.
    # (CONSOLE_*, since process managers such as honcho set PORT for every process.)
    console_host: str = "127.0.0.1"
    console_port: int = 8000
    # The console's own public origin; the agents' namespace accepts only this one.
    public_url: str = ""

    # The store. SQLite by default; `postgresql+asyncpg://...` to scale out.
    database_url: str = f"sqlite+aiosqlite:///{VAR / 'desk.db'}"

    # Rasa (reached over loopback only) and the action server.
    rasa_url: str = "http://127.0.0.1:5005"
    action_server_url: str = "http://127.0.0.1:5055"
    rasa_timeout_seconds: float = 20.0
    # Rasa's HTTP API token (`rasa run --enable-api --auth-token`); with it the console
    # shows agents the intent the bot saw in each customer message.
    rasa_token: str = ""

    # Demo mode (`make run`): demo agents exist and localhost origins are allowed.
    demo_mode: bool = False
    demo_password: str = "demo"

    # Origins allowed to embed the web widget (comma separated).
    widget_origins: str = ""

    # Signs agent tokens and cookies. Generated and kept in var/ when not set.
    secret_key: str = ""
    token_max_age_seconds: int = 12 * 3600

    # socket.io message queue for several console processes, e.g. redis://127.0.0.1:6379/0.
    socketio_message_queue: str = ""

    # Expected wait per queue position when there is no recent history to learn from.
    default_wait_seconds: int = 60

    # Queued conversations go to the least-busy online agent of their team, within
    # each agent's capacity. Off: agents pick from the queue themselves.
    auto_assign: bool = True
    # An agent whose console disconnected and did not come back within this time
    # has their conversations returned to the queue.
    agent_reconnect_grace_seconds: int = Field(default=60, ge=1)
    # How often the console's housekeeping runs (assignment, requeueing, reminders).
    housekeeping_seconds: float = Field(default=5.0, gt=0)

    # Customer messages longer than this are refused.
    max_message_chars: int = Field(default=2000, ge=1)

    # When agents answer and call back, in SERVICE_TIMEZONE; outside them a handoff
    # becomes an offer of a callback. 00:00-24:00 means around the clock.
    service_hours: str = Field(default="09:00-21:00", pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$")
    service_timezone: str = "Asia/Shanghai"

    def service_window(self) -> tuple[time, time]:
        opening, closing = (part.strip() for part in self.service_hours.split("-"))
        return _clock(opening), _clock(closing)

    def in_service_hours(self, now: datetime) -> bool:
        opening, closing = self.service_window()
        local = now.astimezone(ZoneInfo(self.service_timezone)).time()
        return opening <= local < closing

    def widget_origin_list(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.widget_origins.split(",") if o.strip()]

    def console_origin(self) -> str:
        return (self.public_url or f"http://{self.console_host}:{self.console_port}").rstrip("/")


def _clock(text: str) -> time:
    hours, minutes = (int(part) for part in text.split(":"))
    return time.max if hours == 24 else time(hours, minutes)


def _secret_key(settings: Settings) -> str:
    if settings.secret_key:
        return settings.secret_key
    path = VAR / "secret_key"
    if not path.exists():
        VAR.mkdir(exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    settings = Settings()
    settings.secret_key = _secret_key(settings)
    return settings
