select
    "time",
    metric,
    state
from (
    select
        cast(batch_date as timestamp) as "time",
        'day status' as metric,
        case status when 'fail' then 3 when 'warn' then 2 when 'no_data' then 1 else 0 end as state,
        0 as "position"
    from marts.daily_status
    where $__timeFilter(batch_date) and model_version = '$model_version'
    union all
    select
        cast(batch_date as timestamp) as "time",
        test_name as metric,
        case status when 'fail' then 3 when 'warn' then 2 when 'no_data' then 1 else 0 end as state,
        1 as "position"
    from marts.daily_test_results
    where $__timeFilter(batch_date) and model_version = '$model_version'
) as states
order by "time", "position", metric
