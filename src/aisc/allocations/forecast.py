"""The capacity check's forecast: the planner's outlook (``aisc.simulate.planner``) as schemas.

The simulator knows nothing of allocations; this module turns its month-by-month outlook into
the ``Forecast`` of a ``CapacityCheck``. Callers import it when a forecast is asked for, since
the simulation loads numpy and takes seconds.
"""

from __future__ import annotations

from aisc.allocations.schemas import CapacityCheck, Forecast, ForecastAssumptions, ForecastMonth
from aisc.simulate.planner import DAYS, MAX_NODES, REALISATION, Profile, forecast


def forecast_check(check: CapacityCheck, profile: Profile | None = None) -> CapacityCheck:
    """The capacity check with its forecast filled in."""
    profile = profile or Profile.philly()
    rows = forecast(
        [(m.month, m.installed_cards, m.committed_before, m.committed_after) for m in check.months],
        profile,
    )
    return check.model_copy(
        update={
            "forecast": Forecast(
                assumptions=ForecastAssumptions(
                    profile=profile.name,
                    realisation=REALISATION,
                    simulated_days_per_load=DAYS,
                    scaled_to_at_most_gpus=MAX_NODES * 8,
                    policy="aisc",
                ),
                months=[
                    ForecastMonth(
                        month=r.month,
                        busy_pct_before=r.before.busy_pct,
                        busy_pct_after=r.after.busy_pct,
                        wait_mean_s_before=r.before.wait_mean_s,
                        wait_mean_s_after=r.after.wait_mean_s,
                        wait_p90_s_before=r.before.wait_p90_s,
                        wait_p90_s_after=r.after.wait_p90_s,
                        overloaded_after=r.after.overloaded,
                    )
                    for r in rows
                ],
            )
        }
    )
