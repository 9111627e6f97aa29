"""`python -m mlwatch.calibration.measure`: how often default and calibrated thresholds ring, on the warehouse."""

from __future__ import annotations

import time

import pandas as pd

from mlwatch.batches import Thresholds, calibrated_verdict, newest_model_version, read_side
from mlwatch.calibration.column_tests import clean_values, column_tests, configured_test_names
from mlwatch.calibration.null_days import DRAWS, FALSE_ALARM_RATE, SEED, NullDays, calibrate, max_batch_size
from mlwatch.calibration.store import plan_sizes
from mlwatch.config import MonitoringConfig, load_config
from mlwatch.warehouse import Warehouse, WarehouseSettings, connect


def measure(
    warehouse: Warehouse,
    config: MonitoringConfig,
    *,
    draws: int = DRAWS,
    false_alarm_rate: float = FALSE_ALARM_RATE,
    seed: int = SEED,
) -> pd.DataFrame:
    """Per drift column, for the newest model version: how often default and calibrated thresholds ring.

    false_alarm_rate_*: the share of days drawn from the reference (a fresh set, seeded seed + 1, so the
    calibrated rate is out of sample) on which the threshold rings, averaged over the production days' sizes.
    days_flagged_*: the production days whose real drift score is drift at that threshold.
    """
    configured_test_names(config)
    version = newest_model_version(warehouse, config)
    reference = read_side(warehouse, config, version, "split = 'reference'", [])
    production = read_side(warehouse, config, version, "split = 'production'", [])
    days = [day for _, day in production.groupby("batch_date") if len(day) <= max_batch_size(len(reference))]
    sizes = [len(day) for day in days]
    calibration = calibrate(
        reference, plan_sizes(sizes, []), config, draws=draws, false_alarm_rate=false_alarm_rate, seed=seed
    )
    thresholds = Thresholds.of(calibration)
    tests = column_tests(reference, config)
    null = NullDays(reference, tests)
    fresh = {size: null.draw(size, draws, seed + 1) for size in set(sizes)}
    rows = []
    for test in tests:
        name = test.test.display_name
        values = clean_values(reference[test.column]).dropna()
        per_day = []
        for day in days:
            threshold = thresholds.lookup(test.column, name, len(day))
            # The sizes were calibrated from these very days, each of them within max_batch_size.
            assert threshold is not None, f"{test.column}: no calibrated threshold for a day of {len(day)} rows"
            scores = null.scores(test, fresh[len(day)])
            score = test.test(values, clean_values(day[test.column]).dropna(), test.kind, None).drift_score
            per_day.append(
                {
                    "calibrated_threshold": threshold,
                    "false_alarm_rate_default": test.drifted(scores, test.threshold).mean(),
                    "false_alarm_rate_calibrated": test.drifted(scores, threshold).mean(),
                    "days_flagged_default": bool(test.drifted(score, test.threshold)),
                    "days_flagged_calibrated": calibrated_verdict(name, score, threshold),
                }
            )
        summary = pd.DataFrame(per_day)
        rows.append(
            {
                "column_name": test.column,
                "stat_test": name,
                "default_threshold": test.threshold,
                "calibrated_min": summary["calibrated_threshold"].min(),
                "calibrated_max": summary["calibrated_threshold"].max(),
                "false_alarm_rate_default": summary["false_alarm_rate_default"].mean(),
                "false_alarm_rate_calibrated": summary["false_alarm_rate_calibrated"].mean(),
                "days": len(days),
                "days_flagged_default": int(summary["days_flagged_default"].sum()),
                "days_flagged_calibrated": int(summary["days_flagged_calibrated"].sum()),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    """Print `measure` on the warehouse the environment names (as the CLI reads it)."""
    config = load_config()
    warehouse = connect(WarehouseSettings.from_env(config.project_dir))
    try:
        started = time.perf_counter()
        table = measure(warehouse, config)
    finally:
        warehouse.close()
    pd.set_option("display.width", 200)
    print(table.to_string(index=False, float_format=lambda value: f"{value:.3f}"))
    print(f"{time.perf_counter() - started:.1f} s (calibration, a fresh set of draws, and the real days)")


if __name__ == "__main__":
    main()
