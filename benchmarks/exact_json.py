"""What exact numbers cost (issue 20, item 4): ``spec.exactjson`` against bare orjson, per call.

    python benchmarks/exact_json.py

Documents: the ~2 kB list the benchmark upstream answers (``upstream.py``), a 100 kB one, and
each with one integer beyond 64 bits (the exact path). Prints microseconds per call, best of 9;
``check`` is what ``loads`` adds to ``orjson.loads`` on the common path (a machine shared with
other loads makes the other columns vary more than that).
"""

from __future__ import annotations

import timeit

import orjson

from naftiko_runtime.spec.exactjson import LONG_NUMBER, NEGATIVE_EXPONENT, NUMBER_SHAPES, dumps, loads


def check(raw: bytes) -> bool:
    """What ``loads`` adds before orjson on the common path (the whole of its cost there)."""
    shapes = raw.translate(NUMBER_SHAPES)
    return LONG_NUMBER in shapes or NEGATIVE_EXPONENT in shapes


def document(items: int, big: bool) -> bytes:
    rows = [
        {"id": f"item-{i}", "name": f"Item {i}", "price": 12.5 + i, "count": i * 7, "active": i % 2 == 0}
        for i in range(items)
    ]
    if big:
        rows[0]["count"] = -882479421906516180992
    return dumps(rows)


def per_call(function, argument, number: int) -> float:
    return min(timeit.repeat(lambda: function(argument), number=number, repeat=9)) / number * 1e6


def main() -> None:
    print(f"{'document':<28}{'orjson.loads':>14}{'check':>8}{'loads':>10}{'orjson.dumps':>14}{'dumps':>10}  (us/call)")
    for label, items in (("2 kB list", 30), ("100 kB list", 1500)):
        for big in (False, True):
            raw = document(items, big)
            value = loads(raw)
            number = 20000 if items < 100 else 200
            plain_loads = per_call(orjson.loads, raw, number) if not big else float("nan")
            plain_dumps = per_call(orjson.dumps, orjson.loads(raw), number) if not big else float("nan")
            name = f"{label}{' + big int' if big else ''} ({len(raw) // 1000} kB)"
            print(
                f"{name:<28}{plain_loads:>14.1f}{per_call(check, raw, number):>8.1f}"
                f"{per_call(loads, raw, number):>10.1f}"
                f"{plain_dumps:>14.1f}{per_call(dumps, value, number):>10.1f}"
            )


if __name__ == "__main__":
    main()
