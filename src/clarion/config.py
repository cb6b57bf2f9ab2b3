"""Settings read from the environment (prefix CLARION_) and the command line."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from clarion.providers.outbound import OutboundPolicy, policy_from

#: The server admin key opens every project: it must be too long to guess.
MIN_ADMIN_KEY_LENGTH = 32
#: URL schemes CLARION_REDIS_URL may use.
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


class Settings(BaseSettings):
    """Runtime configuration of a Clarion server or worker."""

    model_config = SettingsConfigDict(env_prefix="CLARION_", extra="ignore")

    var_dir: Path = Path("var")
    database_url: str = ""
    # Comma-separated keys: the first seals provider secrets, every one opens them.
    secret_key: str = ""
    admin_key: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    inprocess_workers: bool = True
    # Port a `clarion worker` serves its Prometheus metrics on (on `host`); 0: none.
    metrics_port: int = Field(0, ge=0, le=65535)
    worker_concurrency: int = 16
    # How long a worker holds a job without renewing: also how soon a dead worker's jobs return.
    lease_seconds: float = 30.0
    # Runs of a planning or delivery job before it is given up and its send ended with an error.
    job_max_attempts: int = Field(8, ge=1)
    # A send still open this long after it started is reported stuck (log and metric)...
    stuck_send_seconds: float = Field(3600.0, gt=0)
    # ...by a sweep that runs this often in every worker process.
    sweep_seconds: float = Field(60.0, gt=0)
    # Requests per API key (limits syntax, e.g. "100/second"; empty turns it off).
    rate_limit: str = "1000/second"
    # Failed authentications allowed per client address and per key id (empty turns it off).
    auth_failure_limit: str = "20/minute"
    # Redis that request and failed-auth limits are counted in, shared by every API process
    # (e.g. "redis://127.0.0.1:6379/0"); empty counts them in each process's memory.
    redis_url: str = ""
    # Start of every key Clarion writes to that Redis, so deployments can share one server.
    redis_prefix: str = "clarion"
    max_body_bytes: int = 1024 * 1024
    extra_ca_file: Path | None = None
    # HTTP SMS provider of the SMS fallback (CLARION_SMS_URL, CLARION_SMS_API_KEY, ...).
    sms_url: str = ""
    sms_api_key: str = ""
    sms_sender: str = ""
    # Hosts tenant-chosen URLs may reach besides public https ones (CLARION_OUTBOUND_ALLOWLIST):
    # comma-separated host names, IP addresses and CIDR ranges, e.g. "127.0.0.0/8,::1".
    outbound_allowlist: str = ""

    @field_validator("outbound_allowlist")
    @classmethod
    def _allowlist(cls, value: str) -> str:
        policy_from(value)
        return value

    @property
    def outbound_policy(self) -> OutboundPolicy:
        """The outbound policy every tenant-chosen URL is called under."""
        return policy_from(self.outbound_allowlist)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if value and not value.startswith(REDIS_SCHEMES):
            raise ValueError(
                "CLARION_REDIS_URL must start with "
                + ", ".join(REDIS_SCHEMES)
                + ", e.g. redis://127.0.0.1:6379/0"
            )
        return value

    @field_validator("admin_key")
    @classmethod
    def _long_admin_key(cls, value: str) -> str:
        if value and len(value) < MIN_ADMIN_KEY_LENGTH:
            raise ValueError(
                f"CLARION_ADMIN_KEY must be at least {MIN_ADMIN_KEY_LENGTH} characters long "
                f"(it has {len(value)}); generate one with `openssl rand -hex 32`"
            )
        return value

    @cached_property
    def effective_database_url(self) -> str:
        """Database URL, defaulting to a SQLite file under the var directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.var_dir / 'clarion.db').resolve()}"
