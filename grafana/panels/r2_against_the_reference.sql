select
    cast(batch_date as timestamp) as "time",
    r2 as "R²",
    reference_r2 as "reference R²"
from marts.daily_model_monitoring
where $__timeFilter(batch_date) and model_version = '$model_version'
order by "time"
