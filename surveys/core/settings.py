"""The one settings object of minyi, read from the environment and `.env`.

There is no import-time instance: entry points call :func:`get_settings` and pass the
object down, so tests build their own :class:`Settings` without touching ``os.environ``.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

OFFICIAL_TELEGRAM_API = "https://api.telegram.org"
SECRET_KEY_FILE = "secret.key"
DEFAULT_RATING_REASONS = (
    "服务态度",
    "办事效率",
    "材料要求",
    "流程繁琐",
    "系统故障",
    "政策不明",
    "其他",
)


class BotMode(StrEnum):
    polling = "polling"
    webhook = "webhook"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_ignore_empty=True, extra="ignore", frozen=True
    )

    data_dir: Path = Path("var")
    database_url: str = ""
    bot_token: SecretStr | None = None
    telegram_api_url: str = OFFICIAL_TELEGRAM_API
    bot_mode: BotMode = BotMode.polling
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    # The address citizens and staff reach this server by (posters, QR codes, the links
    # printed at start-up), e.g. https://minyi.example.gov.cn; empty: http://API_HOST:API_PORT.
    public_base_url: str = ""
    redis_url: str | None = None
    # Redis's per-chat lock (REDIS_URL) lasts this long, renewed while an update is handled:
    # after a process died mid-update its chats wait at most this long.
    chat_lock_seconds: float = Field(default=10, gt=0)
    timezone: str = "Asia/Shanghai"
    secret_key: SecretStr | None = None
    default_locale: str = "zh_Hans"
    log_level: str = "INFO"
    identity_retention_days: int = Field(default=730, ge=1)
    # The privacy notice (PIPL §17) names who collects the answers, and a contact if set.
    responsible_office: str = Field(
        default="包头市数字政府建设工作专班", min_length=1, max_length=100
    )
    privacy_contact: str = Field(default="", max_length=200)
    # 好差评 (domain.md §3): working days to first contact and to rectify and reply.
    case_contact_days: int = Field(default=1, ge=1)
    case_rectify_days: int = Field(default=5, ge=1)
    # After 已反馈: working days the citizen has to 复评 before the case closes 已关闭（未复评）.
    case_rerating_days: int = Field(default=5, ge=1)
    # Ratings for a half-year are accepted until this many days after it ends.
    rating_grace_days: int = Field(default=15, ge=0)
    # 好差评 in chat: a rating may be changed for this many days; one reminder after these.
    rating_change_days: int = Field(default=7, ge=0)
    # Reasons offered for a 差评 (JSON list in the environment), e.g. '["服务态度","其他"]'.
    rating_reasons: list[str] = Field(
        default=list(DEFAULT_RATING_REASONS), min_length=2, max_length=12
    )
    rating_reminder_days: float = Field(default=2, gt=0)
    # How often staff replies are relayed to citizens through the bot.
    relay_interval_seconds: float = Field(default=5.0, gt=0)
    # The outbox sender (Telegram's limits): calls per second overall, messages per second
    # and burst per chat, messages per minute per group; how many calls at once.
    send_per_second: float = Field(default=30, gt=0)
    chat_per_second: float = Field(default=1, gt=0)
    chat_burst: int = Field(default=3, ge=1)
    group_per_minute: int = Field(default=20, ge=1)
    send_concurrency: int = Field(default=64, ge=1)
    # 5xx and network errors: this many tries, waiting backoff * 2^n (at most the max).
    send_max_attempts: int = Field(default=8, ge=1)
    send_backoff_seconds: float = Field(default=1, gt=0)
    send_backoff_max_seconds: float = Field(default=300, gt=0)
    # A claimed message is claimed again after this (its sender died); idle polling interval.
    outbox_lease_seconds: float = Field(default=30, gt=0)
    # (With several workers an update handled by another worker is seen at the next poll.)
    outbox_poll_seconds: float = Field(default=0.25, gt=0)
    # Broadcast invitations queued per jobs round (RELAY_INTERVAL_SECONDS): the sender paces
    # them, and the outbox never holds a whole city's campaign at once.
    broadcast_batch: int = Field(default=200, ge=1)

    # Staff console: cookies are marked Secure when it is served over https (set this
    # behind a TLS-terminating proxy); sessions end after this many hours.
    cookie_secure: bool = False
    session_hours: float = Field(default=12, gt=0)
    # Login: this many failures in a row lock the account for lockout_minutes; one address
    # may fail at most login_address_failures times in that window.
    login_max_failures: int = Field(default=5, ge=1)
    lockout_minutes: float = Field(default=15, gt=0)
    login_address_failures: int = Field(default=20, ge=1)
    # Request bodies (MB): JSON and forms; the console's uploads and pushed rating batches.
    max_body_mb: float = Field(default=2, gt=0)
    max_upload_mb: float = Field(default=20, gt=0)
    # Reverse proxies whose X-Forwarded-For is believed (the address audited and throttled):
    # comma-separated addresses or networks, e.g. "127.0.0.1" or "10.0.0.0/8"; empty = none.
    forwarded_allow_ips: str = ""

    # Scoring: the 民意 method file (YAML); empty = the defaults of scoring/method.yaml.
    scoring_method_file: Path | None = None
    # The 评估情况反馈单 as a paper: who issues it, its 文号 ({year}, {half} 1/2, {seq} =
    # half × 100 + the unit's place by id, e.g. 206; {unit} = unit code) and the seal line.
    feedback_issuer: str = Field(
        default="包头市数字政府建设考评工作领导小组办公室", min_length=1, max_length=60
    )
    feedback_number: str = Field(default="包数政考〔{year}〕{seq}号", max_length=60)
    feedback_seal: str = Field(
        default="包头市数字政府建设考评办公室（印章）", min_length=1, max_length=60
    )
    # The 通报's 文号 ({year}; {seq} 1 = 上半年, 2 = 下半年, 3 = 年度); issuer and seal as above.
    circular_number: str = Field(default="包数政考通〔{year}〕{seq}号", max_length=60)

    # The command line acts as this console account unless `minyi --as NAME` names one.
    minyi_user: str | None = None

    @field_validator("feedback_number")
    @classmethod
    def _number_pattern(cls, value: str) -> str:
        try:
            value.format(year=2026, half=2, seq=206, unit="x")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"FEEDBACK_NUMBER {value!r}: use only {{year}}, {{half}}, {{seq}}, {{unit}}"
            ) from exc
        return value

    @field_validator("circular_number")
    @classmethod
    def _circular_pattern(cls, value: str) -> str:
        try:
            value.format(year=2026, seq=2)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"CIRCULAR_NUMBER {value!r}: use only {{year}} and {{seq}}") from exc
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not re.match(r"^https?://[^/\s?#]+(/[^\s?#]*)?$", value):
            raise ValueError(
                f"PUBLIC_BASE_URL {value!r} must be an http:// or https:// address, "
                "e.g. https://minyi.example.gov.cn"
            )
        return value

    def base_url(self) -> str:
        """Where this server is reached: PUBLIC_BASE_URL, else http://API_HOST:API_PORT."""
        if self.public_base_url:
            return self.public_base_url
        host = "127.0.0.1" if self.api_host in {"0.0.0.0", "::", ""} else self.api_host
        return f"http://{host}:{self.api_port}"

    @field_validator("rating_reasons")
    @classmethod
    def _reason_labels(cls, value: list[str]) -> list[str]:
        if any(not 1 <= len(r.strip()) <= 60 for r in value) or len(set(value)) != len(value):
            raise ValueError("RATING_REASONS must be distinct labels of 1-60 characters")
        return [r.strip() for r in value]

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxy_addresses(cls, value: str) -> str:
        entries = [e.strip() for e in value.split(",") if e.strip()]
        for entry in entries:
            if entry == "*":  # every peer: only when nothing else can reach the port
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"FORWARDED_ALLOW_IPS: {entry!r} is no address") from exc
        return ",".join(entries)

    @field_validator("telegram_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("TELEGRAM_API_URL must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _webhook_needs_url(self) -> Settings:
        if self.bot_mode is BotMode.webhook and not self.webhook_url:
            raise ValueError("BOT_MODE=webhook needs WEBHOOK_URL")
        return self

    @property
    def db_url(self) -> str:
        """The database URL; the SQLite file under ``data_dir`` unless set."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'minyi.db').as_posix()}"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def secret_key_bytes(self) -> bytes:
        """The key for keyed hashes: ``SECRET_KEY`` or the one kept in ``data_dir``."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        return ensure_secret_key_file(self.data_dir).encode()


def ensure_secret_key_file(data_dir: Path) -> str:
    """Read the generated secret key, creating it (mode 600) on first use."""
    path = data_dir / SECRET_KEY_FILE
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(key + "\n")
    return key


@lru_cache
def get_settings() -> Settings:
    """The settings of this process, read once from the environment and `.env`."""
    return Settings()
