select
    cast(batch_date as timestamp) as "time",
    missing_values_share as "missing share"
from marts.daily_model_monitoring
where $__timeFilter(batch_date) and model_version = '$model_version'
order by "time"
