"""Calibrated drift thresholds: where each column's drift test should ring so that days without drift rarely do.

Evidently's default thresholds are fixed numbers, but a day's drift score depends on the day's size and on the
column: with ~260 pickup zones and ~1,300 trips a day, two samples of one distribution are more than the default
Jensen-Shannon distance of 0.1 apart, so the location columns "drift" every day. Here each drift column's test
(the one Evidently uses for it) is run on days drawn from the reference itself, which cannot drift, and the
calibrated threshold is the score those days exceed 1% of the time.

A drawn day is compared with the rest of the reference, not with all of it: a day that is part of its own
reference shares that reference's sampling noise and looks closer to it than a new day does (for the pickup
zones, a threshold calibrated that way rings on more than half of the new days without drift).

One module per job: `column_tests` (which test Evidently runs on each column), `null_days` (the drawn days,
their scores and the thresholds), `store` (raw.drift_calibration, once per reference and batch size) and
`measure` (`python -m mlwatch.calibration.measure`: the false-alarm rates on the configured warehouse).
Days are judged with the thresholds in mlwatch.batches, by both engines alike.
"""
