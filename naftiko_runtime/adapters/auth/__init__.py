"""Exposed authentication (CONTRACT D90): what a caller must present before any adapter runs.

Not an adapter kind: every kind's handler on a port is wrapped by ``guard.AuthGuard`` when its
adapters declare ``authentication``. ``compile`` turns the model's block into a ``Gate`` at load
(secrets resolved from binds, unset or empty ones refused with their position).
"""
