"""The REST adapter: routes (``routing``), requests read into inputs (``endpoints``), the ASGI app
(``app``), and the kind that ties them to the spec and the server (``kind``)."""
