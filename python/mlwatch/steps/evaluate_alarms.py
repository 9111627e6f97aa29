"""`mlwatch evaluate-alarms`: score alarm rules against harmful days, write the table and a plot of the year.

Reads the marts of a built warehouse (daily_model_monitoring, daily_performance_estimates) and the reference's
daily mean predictions; fits thresholds on the first half of the year, reports the first half, the second half
and the whole (docs/alarms.md describes the method and the rules).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mlwatch import alarms
from mlwatch.alarms import Rule
from mlwatch.config import MonitoringConfig
from mlwatch.errors import MlwatchError
from mlwatch.relations import DAILY_MODEL_MONITORING, PERFORMANCE_ESTIMATES, TRIPS_SCORED
from mlwatch.steps import Reporter
from mlwatch.warehouse import Warehouse

FIT_PERIOD = "first half"
# Days of the reference with fewer scored trips than this share of its median day are partial (the training rows
# end part-way through one) and left out of its day-to-day variation.
PARTIAL_DAY_SHARE = 0.5
REFERENCE_STDDEVS = 3  # NannyML's default band: mean +/- 3 standard deviations of the reference's chunks


def rules(harm_mae_ratio: float) -> list[Rule]:
    """The rules the evaluation compares (docs/alarms.md), in the table's order."""
    return [
        Rule(
            "evidently_prediction_drift",
            "prediction drift at Evidently's default threshold",
            condition=lambda f: f["prediction_drift_detected"],
        ),
        Rule(
            "evidently_dataset_drift",
            "dataset drift at Evidently's defaults (half the columns drift at their default thresholds)",
            condition=lambda f: f["dataset_drift"],
        ),
        Rule(
            "calibrated_prediction_drift",
            "prediction drift above its calibrated threshold (the old `fail`)",
            condition=lambda f: f["prediction_drift_to_calibrated_threshold"] > 1,
        ),
        Rule(
            "calibrated_drifted_columns_share",
            "share of columns drifting at calibrated thresholds above 0.5 (the old `fail`)",
            condition=lambda f: f["drifted_columns_share_calibrated"] > 0.5,
        ),
        Rule(
            "effect_and_significance",
            "prediction drift both unusual (calibrated threshold) and large (Evidently's default distance)",
            condition=lambda f: f["prediction_drift_detected"] & (f["prediction_drift_to_calibrated_threshold"] > 1),
        ),
        Rule(
            "reference_variation_mean_prediction",
            f"mean prediction outside the reference days' mean +/- {REFERENCE_STDDEVS} std (NannyML's thresholds)",
            score="mean_prediction_z",
            threshold=REFERENCE_STDDEVS,
        ),
        Rule(
            "dle_estimated_harm",
            f"DLE's estimated MAE at least harm_mae_ratio ({harm_mae_ratio}) x the reference's",
            score="estimated_mae_ratio_to_reference",
            threshold=harm_mae_ratio,
        ),
        Rule("dle_fitted", "DLE's estimated MAE ratio, threshold fitted", score="estimated_mae_ratio_to_reference"),
        Rule(
            "prediction_drift_fitted",
            "prediction drift score / calibrated threshold, threshold fitted",
            score="prediction_drift_to_calibrated_threshold",
        ),
        Rule(
            "drifted_columns_share_fitted",
            "share of columns drifting at calibrated thresholds, threshold fitted",
            score="drifted_columns_share_calibrated",
        ),
        Rule(
            "mean_prediction_shift_fitted",
            "mean prediction's distance from the reference days' mean in their std, threshold fitted",
            score="mean_prediction_z",
        ),
    ]


def periods(dates: pd.Series) -> dict[str, pd.Series]:
    """Calendar halves of the year of the first production day, and the whole."""
    days = pd.to_datetime(dates)
    middle = pd.Timestamp(days.min().year, 7, 1)
    return {FIT_PERIOD: days < middle, "second half": days >= middle, "whole": days == days}


def read_days(warehouse: Warehouse) -> pd.DataFrame:
    """One row per production day with labels: harm, the rules' inputs, and DLE's estimate and band."""
    frame = warehouse.query(
        "select daily.batch_date, daily.model_version, daily.prediction_drift_detected, daily.dataset_drift, "
        "daily.prediction_drift_to_calibrated_threshold, daily.drifted_columns_share_calibrated, "
        "daily.mean_prediction, estimates.estimated_mae_ratio_to_reference, estimates.estimated_mae, "
        "estimates.estimated_mae_lower, estimates.estimated_mae_upper, estimates.realized_mae, "
        "estimates.reference_mae, estimates.realized_mae_ratio_to_reference, estimates.is_harmful, "
        f"estimates.harm_mae_ratio from {DAILY_MODEL_MONITORING} as daily inner join {PERFORMANCE_ESTIMATES} "
        "as estimates on daily.batch_date = estimates.batch_date and daily.model_version = estimates.model_version "
        "where estimates.is_harmful is not null order by daily.model_version, daily.batch_date"
    )
    if frame.empty:
        raise MlwatchError(
            f"{PERFORMANCE_ESTIMATES} has no day with labels: run `mlwatch load` and `mlwatch metrics` first"
        )
    if frame["model_version"].nunique() > 1:
        raise MlwatchError("evaluate-alarms scores one model version; the warehouse holds several")
    reference = warehouse.query(
        f"select cast(pickup_datetime as date) as pickup_date, count(*) as trips, avg(prediction) as mean_prediction "
        f"from {TRIPS_SCORED} where split = 'reference' and passes_input_rules and prediction is not null "
        "and model_version = ? group by 1",
        [frame["model_version"].iloc[0]],
    )
    full = reference[reference["trips"] >= PARTIAL_DAY_SHARE * reference["trips"].median()]
    if len(full) < 2:
        raise MlwatchError("the reference has fewer than 2 full days; its day-to-day variation is unknown")
    mean, std = full["mean_prediction"].mean(), full["mean_prediction"].std()
    frame["mean_prediction_z"] = (frame["mean_prediction"] - mean).abs() / std
    frame["batch_date"] = pd.to_datetime(frame["batch_date"])
    for column in ("prediction_drift_detected", "dataset_drift", "is_harmful"):
        frame[column] = frame[column].astype("boolean").fillna(False).astype(bool)
    frame.attrs["reference_days"] = len(full)
    return frame.reset_index(drop=True)


@dataclass(frozen=True)
class AlarmEvaluation:
    table: pd.DataFrame
    days: pd.DataFrame
    files: list[Path]


def run(config: MonitoringConfig, warehouse: Warehouse, reporter: Reporter, output_dir: Path) -> AlarmEvaluation:
    """Score every rule, write alarm_evaluation.csv / .md and alarms.png into `output_dir`."""
    days = read_days(warehouse)
    harm = float(days["harm_mae_ratio"].iloc[0])
    chosen = rules(harm)
    spans = periods(days["batch_date"])
    table = alarms.table(alarms.evaluate(days, chosen, FIT_PERIOD, spans))
    reporter.say(
        f"evaluate-alarms: {len(days)} days with labels, {int(days['is_harmful'].sum())} harmful "
        f"(MAE >= {harm} x the reference's), {len(chosen)} rules, reference variation over "
        f"{days.attrs['reference_days']} days of {config.reference_month}"
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    csv_path, md_path, png_path = (
        output_dir / n for n in ("alarm_evaluation.csv", "alarm_evaluation.md", "alarms.png")
    )
    table.to_csv(csv_path, index=False, float_format="%.4g")
    md_path.write_text(markdown(table, days))
    thresholds = table.drop_duplicates("rule").set_index("rule")["threshold"]
    plot(
        days,
        [r for r in chosen if r.name in ("dle_estimated_harm", "calibrated_prediction_drift")],
        thresholds,
        png_path,
    )
    return AlarmEvaluation(table, days, [csv_path, md_path, png_path])


def dle_figures(days: pd.DataFrame) -> dict[str, float]:
    """DLE's error against the realized MAE, beside the naive estimate 'MAE stays at the reference's'."""
    realized = days["realized_mae"]
    return {
        "days": float(len(days)),
        "dle_mae_of_estimate": float((days["estimated_mae"] - realized).abs().mean()),
        "naive_mae_of_estimate": float((days["reference_mae"] - realized).abs().mean()),
        "dle_correlation": float(days["estimated_mae"].corr(realized)),
        "band_coverage": float(realized.between(days["estimated_mae_lower"], days["estimated_mae_upper"]).mean()),
    }


def _fmt(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def markdown(table: pd.DataFrame, days: pd.DataFrame) -> str:
    """The table per period and DLE's figures, as Markdown (docs/alarms.md quotes it)."""
    columns = [
        "rule", "threshold", "alarm_days", "true_alarms", "precision", "recall", "alarms_per_30_days",
        "false_alarms_per_30_days", "harmful_stretches", "stretches_warned", "mean_lead_days",
    ]  # fmt: skip
    lines = [f"Generated by `mlwatch evaluate-alarms` on {dt.date.today().isoformat()}.", ""]
    for period, rows in table.groupby("period", sort=False):
        first = rows.iloc[0]
        lines += [f"### {period}: {first['days']} days, {first['harmful_days']} harmful", ""]
        lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(_fmt(row[c]) for c in columns) + " |" for _, row in rows.iterrows()]
        lines.append("")
    figures = dle_figures(days)
    lines += [
        "### DLE's estimated MAE against the realized MAE",
        "",
        "| estimate | MAE of the estimate (min) | correlation | band coverage |",
        "|---|---|---|---|",
        f"| DLE | {figures['dle_mae_of_estimate']:.3f} | {figures['dle_correlation']:.3f} | "
        f"{figures['band_coverage']:.2f} |",
        f"| naive (reference MAE) | {figures['naive_mae_of_estimate']:.3f} | - | - |",
        "",
    ]
    return "\n".join(lines)


def plot(days: pd.DataFrame, shown: list[Rule], thresholds: pd.Series, path: Path) -> None:
    """Realized vs estimated MAE over the year, harmful days shaded, and the alarm days of `shown` rules."""
    import matplotlib

    matplotlib.use("Agg")  # no display: write the file only
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(13, 5))
    dates = days["batch_date"]
    axis.fill_between(
        dates, days["estimated_mae_lower"], days["estimated_mae_upper"], color="tab:orange", alpha=0.25,
        label="DLE band",
    )  # fmt: skip
    axis.plot(dates, days["realized_mae"], color="black", linewidth=1.2, label="realized MAE")
    axis.plot(dates, days["estimated_mae"], color="tab:orange", linewidth=1.2, label="DLE estimated MAE")
    harm_level = days["reference_mae"] * days["harm_mae_ratio"]
    axis.plot(dates, harm_level, color="tab:red", linestyle="--", linewidth=1, label="harm: MAE ratio threshold")
    harmful = days["is_harmful"]
    axis.scatter(dates[harmful], days["realized_mae"][harmful], color="tab:red", s=14, zorder=3, label="harmful day")
    bottom = float(days["realized_mae"].min()) * 0.9
    for offset, rule in enumerate(shown):
        fired = rule.alarms(days, thresholds.get(rule.name))
        axis.scatter(
            dates[fired], [bottom - 0.15 * offset] * int(fired.sum()), marker="|", s=60, label=f"alarm: {rule.name}"
        )
    axis.set_ylabel("MAE (minutes)")
    axis.set_title("Realized and estimated MAE per day, harmful days and alarms")
    axis.legend(loc="upper left", fontsize=8, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
