"""YAML and delimited text (csv, tsv, psv) response bodies.

YAML is read by ruamel.yaml's safe loader (no object construction), then copied into plain data
within a node budget, so that aliases cannot expand a small body into a huge structure. Delimited
text is rows keyed by the header line, every value text, as the reference engine's Jackson CSV
converter gives it.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from . import Decode, DecodeError, guarded, node_budget, plain


def _yaml(body: bytes | str) -> Any:
    try:
        loaded = YAML(typ="safe").load(body)
    except (YAMLError, ValueError, TypeError, OverflowError) as exc:
        raise DecodeError(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__) from exc
    return plain(loaded, node_budget(body.encode() if isinstance(body, str) else body))


decode_yaml = guarded(_yaml)


def delimited_decoder(separator: str) -> Decode:
    """The first line names the columns; a row with more fields than the header is an error (Jackson
    refuses it too), a shorter one gives only the columns it has; blank lines are skipped."""

    def decode(body: bytes) -> Any:
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"not UTF-8 text: {exc}") from exc
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=True)
        try:
            header = next(reader, None)
            if header is None:
                return []
            rows = []
            for row in reader:
                if not row:
                    continue
                if len(row) > len(header):
                    raise DecodeError(
                        f"line {reader.line_num} has {len(row)} fields; the header line names {len(header)}"
                    )
                rows.append(dict(zip(header, row, strict=False)))
        except csv.Error as exc:
            raise DecodeError(f"line {reader.line_num}: {exc}") from exc
        return rows

    return decode
