select
    cast(batch_date as text) as "batch date",
    test_name as test,
    metric_name as metric,
    observed_value as observed,
    case direction when 'max' then 'above' else 'below' end as "fails when",
    warn_threshold as "warn threshold",
    fail_threshold as "fail threshold",
    status
from marts.daily_test_results
where
    model_version = '$model_version'
    and batch_date = (
        select max(latest.batch_date) from marts.daily_test_results as latest
        where $__timeFilter(batch_date) and latest.model_version = '$model_version'
    )
order by case status when 'fail' then 0 when 'warn' then 1 when 'no_data' then 2 else 3 end, test_name
