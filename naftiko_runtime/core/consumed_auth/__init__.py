"""Consumed authentication types, keyed by the spec's ``authentication.type`` on ``consumes``:
what the runtime sends upstream (issue 19, item 3). What an exposed adapter checks is another
registry (``adapters.auth.types``): a type the runtime can send is not thereby one it can check.

A type turns the model's block into ready-made ``Credentials`` once, at load: header and query
pairs copied into every request, or a challenge-response flow (digest) the upstream client runs.
Adding a type is a module with a class following ``ConsumedAuthType`` and one
``register_consumed_auth``.
"""

from . import builtin  # noqa: F401  (the specification's own: bearer, apikey, basic, digest)
from .kind import CONSUMED_AUTH, ConsumedAuthType, register_consumed_auth

__all__ = ["CONSUMED_AUTH", "ConsumedAuthType", "register_consumed_auth"]
