"""Alarm rules scored against harmful days: precision, recall, alarms per 30 days and days of warning.

Pure functions over a daily frame (one row per production day, sorted by date); the evaluate-alarms step reads
the frame from the marts and writes the table. A day is harmful when its realized MAE ratio to the reference
reaches `harm_mae_ratio` (dbt var; daily_performance_estimates.is_harmful). Rules with a tunable threshold have
it fitted on one period (the first half of the year) and are then scored unchanged on every period.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

PER_DAYS = 30  # alarms are reported per 30 days


@dataclass(frozen=True)
class Rule:
    """An alarm rule: `alarms(frame, threshold)` flags the days it alarms on.

    `score` rules compare one column to a threshold (fitted when `threshold` is None); the others are fixed."""

    name: str
    description: str
    score: str | None = None
    threshold: float | None = None
    condition: Callable[[pd.DataFrame], pd.Series] | None = None

    @property
    def fitted(self) -> bool:
        return self.score is not None and self.threshold is None

    def alarms(self, frame: pd.DataFrame, threshold: float | None = None) -> pd.Series:
        if self.condition is not None:
            return self.condition(frame).fillna(False).astype(bool)
        assert self.score is not None
        level = self.threshold if threshold is None else threshold
        if level is None:
            raise ValueError(f"rule {self.name} needs a fitted threshold")
        return (frame[self.score] >= level).fillna(False).astype(bool)


@dataclass(frozen=True)
class Score:
    """How a rule's alarms match the harmful days of one period."""

    days: int
    harmful_days: int
    alarm_days: int
    true_alarms: int
    stretches: int  # runs of consecutive harmful days
    stretches_warned: int  # stretches with an alarm on their first day (the alarm may have started earlier)
    mean_lead_days: float | None  # over warned stretches: consecutive alarm days before the first harmful day

    @property
    def precision(self) -> float | None:
        return self.true_alarms / self.alarm_days if self.alarm_days else None

    @property
    def recall(self) -> float | None:
        return self.true_alarms / self.harmful_days if self.harmful_days else None

    @property
    def alarms_per_30_days(self) -> float:
        return PER_DAYS * self.alarm_days / self.days if self.days else float("nan")

    @property
    def false_alarms_per_30_days(self) -> float:
        return PER_DAYS * (self.alarm_days - self.true_alarms) / self.days if self.days else float("nan")

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p and r else 0.0


def _runs(dates: pd.Series) -> pd.Series:
    """A run id per row: a new run starts after a gap in the calendar."""
    days = pd.to_datetime(dates)
    return (days.diff() != pd.Timedelta(days=1)).cumsum()


def score(dates: pd.Series, harmful: pd.Series, alarms: pd.Series) -> Score:
    """Score alarms against harm over consecutive days (`dates` sorted, no duplicates)."""
    harm, alarm = harmful.astype(bool).to_numpy(), alarms.astype(bool).to_numpy()
    run = _runs(dates).to_numpy()
    stretches, warned, leads = 0, 0, []
    for i in range(len(harm)):
        starts_stretch = harm[i] and (i == 0 or not harm[i - 1] or run[i] != run[i - 1])
        if not starts_stretch:
            continue
        stretches += 1
        if not alarm[i]:
            continue
        warned += 1
        lead, j = 0, i - 1
        while j >= 0 and alarm[j] and run[j] == run[i] and not harm[j]:
            lead, j = lead + 1, j - 1
        leads.append(lead)
    return Score(
        days=len(harm),
        harmful_days=int(harm.sum()),
        alarm_days=int(alarm.sum()),
        true_alarms=int((harm & alarm).sum()),
        stretches=stretches,
        stretches_warned=warned,
        mean_lead_days=float(np.mean(leads)) if leads else None,
    )


def fit_threshold(values: pd.Series, harmful: pd.Series, dates: pd.Series) -> float:
    """The threshold among the observed values with the best F1 on these days; on a tie the highest (fewest
    alarms). Days without a value never alarm."""
    candidates = np.unique(values.dropna().to_numpy())
    if not len(candidates):
        raise ValueError("no values to fit a threshold on")
    best, best_f1 = float(candidates[-1]), -1.0
    for candidate in candidates[::-1]:
        f1 = score(dates, harmful, (values >= candidate).fillna(False)).f1
        if f1 > best_f1:
            best, best_f1 = float(candidate), f1
    return best


@dataclass(frozen=True)
class Evaluation:
    """One row of the table: a rule on one period, with the threshold it used."""

    rule: str
    period: str
    threshold: float | None
    score: Score


def evaluate(
    frame: pd.DataFrame, rules: Iterable[Rule], fit_period: str, periods: dict[str, pd.Series]
) -> list[Evaluation]:
    """Every rule on every period; thresholds of fitted rules come from `periods[fit_period]` alone.

    `frame` has batch_date, is_harmful and the rules' columns, one row per day with labels."""
    results = []
    fit_days = frame[periods[fit_period]]
    for rule in rules:
        threshold = rule.threshold
        if rule.fitted:
            assert rule.score is not None
            threshold = fit_threshold(fit_days[rule.score], fit_days["is_harmful"], fit_days["batch_date"])
        alarms = rule.alarms(frame, threshold)
        for period, mask in periods.items():
            days = frame[mask]
            results.append(
                Evaluation(rule.name, period, threshold, score(days["batch_date"], days["is_harmful"], alarms[mask]))
            )
    return results


def table(results: Iterable[Evaluation]) -> pd.DataFrame:
    """The evaluation as one table, one row per rule and period."""
    return pd.DataFrame(
        [
            {
                "rule": r.rule,
                "period": r.period,
                "threshold": r.threshold,
                "days": r.score.days,
                "harmful_days": r.score.harmful_days,
                "alarm_days": r.score.alarm_days,
                "true_alarms": r.score.true_alarms,
                "precision": r.score.precision,
                "recall": r.score.recall,
                "alarms_per_30_days": r.score.alarms_per_30_days,
                "false_alarms_per_30_days": r.score.false_alarms_per_30_days,
                "harmful_stretches": r.score.stretches,
                "stretches_warned": r.score.stretches_warned,
                "mean_lead_days": r.score.mean_lead_days,
            }
            for r in results
        ]
    )
