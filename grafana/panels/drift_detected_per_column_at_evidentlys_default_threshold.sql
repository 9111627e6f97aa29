select
    cast(batch_date as timestamp) as "time",
    column_name as metric,
    case when drift_detected then 1 else 0 end as drift
from marts.daily_column_drift
where
    $__timeFilter(batch_date)
    and model_version = '$model_version'
    and column_name in ($column)
    and drift_detected is not null
order by "time", metric
