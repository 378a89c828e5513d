"""The retraining phase clock: every phase it entered is recorded, in order, also when
the phase raised; a phase entered twice adds up."""

from __future__ import annotations

import pytest

from sieve.workers.distill.phases import Phase, PhaseClock


def test_phases_are_recorded_in_order_and_add_up() -> None:
    clock = PhaseClock()
    with clock.phase(Phase.READ):
        pass
    with clock.phase(Phase.TRAIN):
        sum(range(10_000))
    first_train = clock.seconds[Phase.TRAIN]
    with clock.phase(Phase.TRAIN):
        sum(range(10_000))
    assert list(clock.seconds) == [Phase.READ, Phase.TRAIN]
    assert list(clock.cpu_seconds) == [Phase.READ, Phase.TRAIN]
    assert clock.seconds[Phase.TRAIN] > first_train
    assert set(clock.rounded()) == {"read", "train"}


def test_a_phase_that_raises_is_still_recorded() -> None:
    clock = PhaseClock()
    with pytest.raises(RuntimeError), clock.phase(Phase.EXPORT):
        raise RuntimeError("export failed")
    assert list(clock.seconds) == [Phase.EXPORT]
