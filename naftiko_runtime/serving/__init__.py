"""Serving: loading several files (``loading``), placing them on ports (``listeners``), running the
servers (``server``, ``stdio``), and the listings and logs around them (``catalog``, ``logs``)."""
