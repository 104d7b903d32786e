"""The interface and the registry of ``consumed_auth`` (the package re-exports them)."""

from __future__ import annotations

from typing import Protocol

from ...spec import plugged
from ...spec.binds import BindValues
from ...spec.model import Authentication
from ...spec.shape_kinds import CONSUMED_AUTHENTICATION
from ...spec.shapes import Shape
from ..credentials import Credentials


class ConsumedAuthType(Protocol):
    @property
    def type(self) -> str:
        """The spec's ``authentication.type``."""

    @property
    def needed(self) -> tuple[str, ...]:
        """The fields without which the block counts as absent (D13, D33): warned about at load."""

    @property
    def shape(self) -> Shape | None:
        """The block's shape for the dialects' checks; ``None`` for the specification's own types."""

    def credentials(self, auth: Authentication, binds: BindValues) -> Credentials:
        """What every request to the namespace carries, its secrets rendered from ``binds`` now;
        an unset secret gives credentials that send nothing but still claim their headers (D29)."""


CONSUMED_AUTH: dict[str, ConsumedAuthType] = {}


def register_consumed_auth(kind: ConsumedAuthType) -> None:
    CONSUMED_AUTH[kind.type] = kind
    plugged.add_auth(plugged.CONSUMED_AUTH, CONSUMED_AUTHENTICATION, kind.type, kind.needed, kind.shape)
