"""The ``x-naftiko-webhook`` adapter kind: signed inbound events (Standard Webhooks, GitHub, Stripe)
that run an operation each (issue 21 item 6, D107)."""
