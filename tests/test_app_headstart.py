"""The head start of a cron build: the lock first, the listing under it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from feeder.app.headstart import head_start
from feeder.app.pipeline import build
from feeder.errors import LockTimeout
from feeder.storage.lock import LOCK_NAME, BuildLock

from conftest import Site, good_fields


@pytest.mark.sqlite_only  # with PostgreSQL there is no head start (the last test)
def test_the_lock_is_held_while_the_listing_runs_and_given_back_after(site: Site):
    site.article("a/one.txt", **good_fields(1))
    with head_start(site.settings, timeout=1) as started:
        assert started is not None and started.listing is not None
        with pytest.raises(LockTimeout), BuildLock(site.state, timeout=0):
            pass
        report = build(site.settings, head_start=started)
    assert report.files == 1 and report.published == 1
    with BuildLock(site.state, timeout=0):  # given back
        pass


@pytest.mark.sqlite_only
def test_a_listing_never_asked_for_is_stopped(site: Site):
    site.article("a/one.txt", **good_fields(1))
    with head_start(site.settings, timeout=1) as started:
        assert started is not None and started.listing is not None
        listing = started.listing
    assert listing.result() is None  # closed: nothing left to read


@pytest.mark.no_state
def test_no_head_start_with_postgresql_state(site: Site):
    settings = replace(site.settings, state=replace(site.settings.state, url="postgresql://127.0.0.1:9/none"))
    with head_start(settings, timeout=1) as started:
        assert started is None
    assert not (site.state / LOCK_NAME).exists()
