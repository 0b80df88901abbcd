from __future__ import annotations

from bot.throttle import UserThrottle, Verdict


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_flooding_user_gets_one_notice_then_silence_and_others_are_untouched() -> None:
    clock = Clock()
    throttle = UserThrottle(limit=3, window_s=5, clock=clock)

    verdicts = [throttle.check(1) for _ in range(50)]

    assert verdicts[:3] == [Verdict.ALLOW] * 3
    assert verdicts[3] == Verdict.NOTIFY
    assert set(verdicts[4:]) == {Verdict.DROP}
    assert throttle.check(2) == Verdict.ALLOW


def test_the_window_slides_and_a_new_notice_is_allowed_after_it() -> None:
    clock = Clock()
    throttle = UserThrottle(limit=2, window_s=5, clock=clock)
    for _ in range(3):
        throttle.check(1)

    clock.now = 5.1
    assert throttle.check(1) == Verdict.ALLOW
    assert throttle.check(1) == Verdict.ALLOW
    assert throttle.check(1) == Verdict.NOTIFY


def test_updates_are_counted_when_they_were_sent_not_when_they_are_handled() -> None:
    clock = Clock()
    throttle = UserThrottle(limit=3, window_s=5, clock=clock)
    clock.now = 100.0  # handled late: all four were sent within one second

    verdicts = [throttle.check(1, at=at) for at in (10.0, 10.2, 10.4, 10.6)]

    assert verdicts == [Verdict.ALLOW] * 3 + [Verdict.NOTIFY]


def test_a_stranger_is_refused_once_a_window_however_much_they_send() -> None:
    clock = Clock()
    throttle = UserThrottle(limit=3, window_s=5, clock=clock)

    told = [throttle.first_refusal(9) for _ in range(40)]
    clock.now = 5.1

    assert told.count(True) == 1
    assert throttle.first_refusal(9)
