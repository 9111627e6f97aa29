select
    cast(batch_date as text) as "batch date",
    column_name as "column",
    column_role as "role",
    stat_test as "stat test",
    drift_score as "drift score",
    calibrated_threshold as "calibrated threshold",
    calibrated_drift_detected as "calibrated verdict",
    drift_threshold as "Evidently threshold",
    drift_detected as "Evidently verdict",
    missing_share as "missing share"
from marts.daily_column_drift
where
    model_version = '$model_version'
    and column_name in ($column)
    and batch_date = (
        select max(latest.batch_date) from marts.daily_column_drift as latest
        where $__timeFilter(batch_date) and latest.model_version = '$model_version' and latest.drift_score is not null
    )
order by drift_score desc nulls last, column_name asc
