select
    cast(batch_date as timestamp) as "time",
    column_name as metric,
    drift_score as "drift score"
from marts.daily_column_drift
where
    $__timeFilter(batch_date)
    and model_version = '$model_version'
    and column_name in ($column)
    and drift_score is not null
order by "time", metric
