"""The skill adapter: a read-only catalogue of Agent Skills (``model``), their documents
(``documents``), served over HTTP under ``/skills`` (``app``), tied to the spec by ``kind``."""
