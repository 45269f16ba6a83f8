"""Photos prepared ahead on worker threads: in order, errors carried, a bounded look-ahead, a clean stop."""

from __future__ import annotations

import threading
import time

import pytest

from esmc_desktop.errors import ImageError
from esmc_desktop.photos.prefetch import Prefetch


def test_results_come_in_order_with_each_error_beside_its_item():
    def prepare(n: int) -> int:
        if n == 3:
            raise ImageError("photo 3 is damaged")
        time.sleep(0.002 * (n % 3))
        return n * n

    with Prefetch(range(8), prepare, workers=3, ahead=4) as ready:
        got = [(p.item, p.value, str(p.error) if p.error else None) for p in ready]
    assert got == [(n, None if n == 3 else n * n, "photo 3 is damaged" if n == 3 else None) for n in range(8)]


def test_other_errors_are_not_swallowed():
    with Prefetch(range(3), lambda n: 1 // (n - 1)) as ready:
        with pytest.raises(ZeroDivisionError):
            list(ready)


def test_no_more_than_ahead_items_are_prepared_before_they_are_taken():
    lock = threading.Lock()
    started: list[int] = []

    def prepare(n: int) -> int:
        with lock:
            started.append(n)
        return n

    taken = 0
    with Prefetch(range(100), prepare, workers=2, ahead=3) as ready:
        for prepared in ready:
            time.sleep(0.002)
            with lock:
                assert len(started) <= taken + 1 + 3
            taken += 1
    assert taken == 100


def test_leaving_early_prepares_nothing_more():
    started: list[int] = []
    ready = Prefetch(range(1000), lambda n: started.append(n) or n, workers=1, ahead=2)
    with ready:
        for prepared in ready:
            if prepared.item == 5:
                break
    count = len(started)
    time.sleep(0.05)
    assert len(started) == count <= 5 + 1 + 2
