"""The agencies' credentials for the national exchange, as the forwarder holds them.

An agency's client id and secret come from the exchange's gateway (for the mock:
``hub exchange-clients add AGENCY``). The forwarder reads them from the TOML file named by
``HUB_EXCHANGE_CREDENTIALS``::

    [agencies.STNMT]
    client_id = "STNMT"
    client_secret = "…"

Secrets stay :class:`~pydantic.SecretStr`: never printed, logged or put in an error message.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from hub.errors import ConfigError

__all__ = ["Credential", "load_credentials"]


@dataclass(frozen=True, slots=True)
class Credential:
    client_id: str
    client_secret: SecretStr

    def __repr__(self) -> str:
        return f"Credential(client_id={self.client_id!r}, client_secret=SecretStr('**********'))"


def load_credentials(path: Path) -> dict[str, Credential]:
    """Agency code → credential, from a TOML file; :class:`ConfigError` naming what is wrong."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"HUB_EXCHANGE_CREDENTIALS: cannot read {path}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"HUB_EXCHANGE_CREDENTIALS: {path} is not TOML: {exc}") from exc
    agencies = document.get("agencies")
    if not isinstance(agencies, Mapping) or not agencies:
        raise ConfigError(f"HUB_EXCHANGE_CREDENTIALS: {path} has no [agencies.<CODE>] tables")
    found = {}
    for agency, entry in agencies.items():
        if not isinstance(entry, Mapping):
            raise ConfigError(f"HUB_EXCHANGE_CREDENTIALS: [agencies.{agency}] in {path} is not a table")
        client_id, secret = entry.get("client_id", agency), entry.get("client_secret")
        if not isinstance(client_id, str) or not client_id or not isinstance(secret, str) or not secret:
            raise ConfigError(
                f"HUB_EXCHANGE_CREDENTIALS: [agencies.{agency}] in {path} needs client_id and client_secret"
            )
        found[agency] = Credential(client_id, SecretStr(secret))
    return found
