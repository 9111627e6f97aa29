select
    segment || ' (' || cast(sum(performance_trips) as text) || ' trips)' as segment,
    sum(mae * performance_trips) / nullif(sum(performance_trips), 0) as "MAE",
    max(reference_mae) as "reference MAE"
from marts.daily_segment_performance
where
    $__timeFilter(batch_date)
    and model_version = '$model_version'
    and segment_type = 'time_of_day'
    and performance_trips > 0
group by segment
order by segment
