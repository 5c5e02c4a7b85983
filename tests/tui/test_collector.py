"""`dccd-tui` starts with the cyclic garbage collector off (dccd_tui/commands/tui.py); the app
turns it back on once its first frame is drawn, with what it built frozen
(dccd_tui/tui/app.py). A collector left off would let cycles pile up for the whole session."""

from __future__ import annotations

import gc

from .fake_runner import fake_app
from .test_footer import JOBS


async def test_the_app_turns_the_collector_back_on_with_its_objects_frozen(tmp_path):
    gc.disable()  # as commands/tui.py leaves it
    try:
        app = fake_app(tmp_path, JOBS)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.pause()
            assert gc.isenabled()
            assert gc.get_freeze_count() > 0
        assert gc.get_freeze_count() == 0  # unfrozen when the app ends (tests run many)
    finally:
        gc.enable()
