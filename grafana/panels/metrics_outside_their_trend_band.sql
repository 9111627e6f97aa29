select
    cast(batch_date as text) as "batch date",
    metric_name as metric,
    metric_value as "value",
    band_lower as "band lower",
    band_upper as "band upper",
    rolling_avg as "rolling mean",
    day_over_day_change as "change from the day before"
from marts.daily_metric_trends
where $__timeFilter(batch_date) and model_version = '$model_version' and is_outside_band
order by batch_date desc, metric_name asc
