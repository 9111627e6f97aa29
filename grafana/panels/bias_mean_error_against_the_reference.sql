select
    cast(batch_date as timestamp) as "time",
    mean_error as "mean error",
    reference_mean_error as "reference mean error"
from marts.daily_model_monitoring
where $__timeFilter(batch_date) and model_version = '$model_version'
order by "time"
