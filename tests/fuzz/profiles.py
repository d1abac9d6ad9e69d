"""Hypothesis settings for the fuzz suite: fast and deterministic by default, longer on demand.

Every test in tests/fuzz takes its settings from ``fuzz(n)`` rather than from a global
profile, so loading this module never changes how the unit tests' own ``@given`` tests run.
The default ("ci") is derandomized (the same examples on every run, so ``make test`` is
reproducible) with ``n`` examples, sized so the whole directory stays well under a minute on
2 cores. ``HYPOTHESIS_PROFILE=thorough`` multiplies the counts by 25 and lets hypothesis pick
fresh random examples each run (keeping failures in .hypothesis/, which git ignores).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
THOROUGH = PROFILE == "thorough"
SCALE = 25 if THOROUGH else 1

_SUPPRESSED = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
               HealthCheck.data_too_large, HealthCheck.filter_too_much]


def fuzz(examples: int) -> settings:
    """Settings for one fuzz test: ``examples`` in CI, 25 times that when thorough."""
    base = settings(
        max_examples=examples * SCALE,
        derandomize=not THOROUGH,
        deadline=None,
        suppress_health_check=_SUPPRESSED,
        print_blob=THOROUGH,
    )
    # CI runs leave no example database behind; thorough runs keep hypothesis' default.
    return base if THOROUGH else settings(base, database=None)
