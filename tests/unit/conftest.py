"""Hypothesis profiles for the property-based and fuzz tests.

``ci`` (the default, what ``make test`` runs): a bounded number of cases so that the
unit tests stay fast on a shared 2-core machine. ``fuzz`` (``make fuzz``): a hundred
times more. Choose with HYPOTHESIS_PROFILE=fuzz. The example database lives in
.hypothesis/ (ignored by git): a failure found once is tried first next time.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

CI_EXAMPLES = 200
FUZZ_EXAMPLES = 20_000

settings.register_profile("ci", max_examples=CI_EXAMPLES, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", max_examples=FUZZ_EXAMPLES, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
