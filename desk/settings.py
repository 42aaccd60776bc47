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
    # How long one custom action may take before it gives up (its writes undone) and
    # hands the customer over. Rasa 3.6 itself waits 5 minutes for the action server
    # and cannot be told otherwise, so the actions keep within the gateway's wait:
    # keep two of these (a form's check and its submit) under RASA_TIMEOUT_SECONDS.
    action_timeout_seconds: float = Field(default=8.0, gt=0)
    # A customer's message the bot owes an answer to is held by the process answering
    # it for this long; after that any process's housekeeping answers it (the first
    # process died). Keep it well above RASA_TIMEOUT_SECONDS.
    bot_turn_lease_seconds: float = Field(default=60.0, gt=0)
    # Rasa's HTTP API token (`rasa run --enable-api --auth-token`); with it the console
    # shows agents the intent the bot saw in each customer message.
    rasa_token: str = ""

    # Demo mode (`make run`): demo agents exist and localhost origins are allowed.
    demo_mode: bool = False
    demo_password: str = "demo"

    # Origins allowed to embed the web widget (comma separated).
    widget_origins: str = ""

    # Reverse proxies in front of the console (addresses or networks, comma separated):
    # from their requests the client's address is read from X-Forwarded-For.
    trusted_proxies: str = ""

    # Signs agent tokens and cookies. Generated and kept in var/ when not set.
    secret_key: str = ""
    token_max_age_seconds: int = 12 * 3600

    # socket.io message queue for several console processes, e.g. redis://127.0.0.1:6379/0.
    socketio_message_queue: str = ""
    # The queue's channel: desks that share one Redis each need their own.
    socketio_channel: str = "socketio"

    # Expected wait per queue position when there is no recent history to learn from.
    default_wait_seconds: int = 60

    # Queued conversations go to the least-busy online agent of their team, within
    # each agent's capacity. Off: agents pick from the queue themselves.
    auto_assign: bool = True
    # An agent whose console disconnected and did not come back within this time
    # has their conversations returned to the queue.
    agent_reconnect_grace_seconds: int = Field(default=60, ge=1)
    # A queued web chat customer whose page no console process has seen for this long
    # has left the queue (an abandon, "silent", for the service level).
    queue_silence_grace_seconds: int = Field(default=120, ge=10)
    # An agent's wrap-up after resolving a conversation not finished by hand within this
    # is finished for them by housekeeping (AHT counts it up to this).
    wrap_up_max_seconds: int = Field(default=120, ge=1)
    # How often the console's housekeeping runs (assignment, requeueing, reminders).
    # 0 runs none in the background: for tests that drive each round themselves.
    housekeeping_seconds: float = Field(default=5.0, ge=0)

    # Customer messages longer than this are refused.
    max_message_chars: int = Field(default=2000, ge=1)
    # Messages per minute (and burst) one channel identity may send; more are refused.
    channel_messages_per_minute: int = Field(default=30, ge=1)
    channel_burst: int = Field(default=20, ge=1)
    # New web chat sessions per minute (and burst) from one client address; more are
    # refused, so a script cannot open sessions without end (a real customer opens one).
    web_sessions_per_minute: int = Field(default=20, ge=1)
    web_session_burst: int = Field(default=20, ge=1)
    # A channel identity verified within this many days starts new conversations
    # verified (WeChat, Telegram and app users need not verify every time).
    verified_identity_days: float = Field(default=30, ge=0)
    # One-time codes: how many are sent per customer and per mobile number, an hour
    # and a day; how many identifications (policy or ID numbers) one chat session and
    # one client address may try an hour. Past a limit, verifying pauses for a while.
    verification_codes_per_hour: int = Field(default=3, ge=1)
    verification_codes_per_day: int = Field(default=10, ge=1)
    verification_identifications_per_session: int = Field(default=5, ge=1)
    verification_identifications_per_address: int = Field(default=20, ge=1)
    # Signed requests (WeChat, the app API) with timestamps further off are refused.
    replay_window_seconds: int = Field(default=300, ge=1)

    # The bot's project the trainers' workbench edits: its `bot/data` and `bot/domain`.
    # The repository itself by default; point it at a copy to keep edits apart.
    training_project_dir: str = str(ROOT)
    # The trainers' review inbox puts a message among the bot's unsure ones when its
    # intent's confidence is below INBOX_LOW_CONFIDENCE, or the runner-up intent's is
    # within INBOX_CLOSE_CALL of it (needs RASA_TOKEN: the inbox reads Rasa's tracker).
    inbox_low_confidence: float = Field(default=0.6, ge=0, le=1)
    inbox_close_call: float = Field(default=0.1, ge=0, le=1)
    # The model registry: every model trained from the workbench (and the baseline) is
    # kept here under a name of its own, never overwritten; deploys load from here.
    model_registry_dir: str = str(VAR / "models")
    # The model file Rasa is started with (the Procfile's). An empty registry takes it
    # in as the production baseline; after a Rasa restart (which loads this file) the
    # console loads the registry's production model again.
    rasa_model: str = str(ROOT / "models" / "health-desk.tar.gz")
    # Every Rasa process a deploy must reach, comma separated; RASA_URL alone if empty.
    rasa_urls: str = ""
    # A fine-tune trains the production model this fraction of the configured epochs.
    finetune_epoch_fraction: float = Field(default=0.2, gt=0, le=1)

    # Claim documents customers upload from the web widget.
    upload_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    upload_types: str = "image/jpeg,image/png,application/pdf"
    upload_dir: str = str(VAR / "uploads")
    # Upload quotas: files and bytes per web chat session, stricter until the customer
    # verifies; and per day (24 hours) for one verified customer, or for one client
    # address while unverified.
    upload_session_files: int = Field(default=50, ge=1)
    upload_session_bytes: int = Field(default=200 * 1024 * 1024, ge=1)
    upload_unverified_files: int = Field(default=5, ge=1)
    upload_unverified_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    upload_day_files: int = Field(default=100, ge=1)
    upload_day_bytes: int = Field(default=500 * 1024 * 1024, ge=1)

    # WeChat Official Account (off while WECHAT_TOKEN is empty). The encoding AES key
    # turns on safe mode; the API base URL can point at a proxy.
    wechat_app_id: str = ""
    wechat_app_secret: str = ""
    wechat_token: str = ""
    wechat_encoding_aes_key: str = ""
    wechat_api_base_url: str = "https://api.weixin.qq.com/"
    # WeChat waits 5 s for the answer to a message; later replies go by its API.
    wechat_passive_reply_seconds: float = Field(default=4.0, gt=0, lt=5)

    # Telegram (off while TELEGRAM_BOT_TOKEN is empty; the webhook secret is required).
    telegram_bot_token: str = ""
    telegram_webhook_secret: str = ""
    telegram_api_base_url: str = "https://api.telegram.org"

    # The insurer's own app (off while APP_API_KEYS is empty): "key_id:secret,...".
    app_api_keys: str = ""
    # Replies are POSTed here, signed with HMAC-SHA256 under the secret.
    app_webhook_url: str = ""
    app_webhook_secret: str = ""

    # When agents answer and call back, in SERVICE_TIMEZONE; outside them a handoff
    # becomes an offer of a callback. 00:00-24:00 means around the clock.
    service_hours: str = Field(default="09:00-21:00", pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$")
    service_timezone: str = "Asia/Shanghai"

    # The queue's service level: handoffs answered by an agent within this many
    # seconds, out of those answered and those who left after the short-abandon
    # threshold (docs/metrics.md).
    service_level_target_seconds: float = Field(default=20.0, gt=0)
    short_abandon_seconds: float = Field(default=5.0, ge=0)
    # The share of customers to answer within the target: the wallboard's goal, and
    # its alert when the next 15 minutes would take today below it.
    service_level_goal: float = Field(default=0.8, gt=0, lt=1)
    # How long one analytics request may read the store before it is cancelled (and
    # answered 503), rather than hold the store for everyone else.
    analytics_timeout_seconds: float = Field(default=20.0, gt=0)

    def service_window(self) -> tuple[time, time]:
        opening, closing = (part.strip() for part in self.service_hours.split("-"))
        return _clock(opening), _clock(closing)

    def in_service_hours(self, now: datetime) -> bool:
        opening, closing = self.service_window()
        local = now.astimezone(ZoneInfo(self.service_timezone)).time()
        return opening <= local < closing

    def rasa_url_list(self) -> list[str]:
        listed = [url.strip().rstrip("/") for url in self.rasa_urls.split(",") if url.strip()]
        return listed or [self.rasa_url.rstrip("/")]

    def upload_type_list(self) -> list[str]:
        return [t.strip() for t in self.upload_types.split(",") if t.strip()]

    def app_api_key_map(self) -> dict[str, str]:
        pairs = (item.split(":", 1) for item in self.app_api_keys.split(",") if ":" in item)
        return {key.strip(): secret.strip() for key, secret in pairs if key.strip()}

    def widget_origin_list(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.widget_origins.split(",") if o.strip()]

    def console_origins(self) -> set[str]:
        """The console's own origins: the public URL, else the host and port it
        listens on (and its loopback names)."""
        if self.public_url:
            return {self.public_url.rstrip("/")}
        local = ("127.0.0.1", "localhost", "0.0.0.0")
        hosts = (
            {self.console_host, "127.0.0.1", "localhost"}
            if self.console_host in local
            else {self.console_host}
        )
        return {f"http://{host}:{self.console_port}" for host in hosts}

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
