select
    cast(batch_date as timestamp) as "time",
    trips as "all trips",
    input_valid_trips as "pass input rules",
    performance_trips as "pass all rules"
from marts.daily_model_monitoring
where $__timeFilter(batch_date) and model_version = '$model_version'
order by "time"
