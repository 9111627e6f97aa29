select
    cast(batch_date as timestamp) as "time",
    drifted_columns_share_calibrated as "drifted share",
    drifted_columns_count_calibrated as "drifted columns"
from marts.daily_model_monitoring
where $__timeFilter(batch_date) and model_version = '$model_version'
order by "time"
