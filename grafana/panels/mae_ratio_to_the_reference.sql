select
    cast(batch_date as timestamp) as "time",
    mae_ratio_to_reference as "MAE / reference MAE"
from marts.daily_model_monitoring
where $__timeFilter(batch_date) and model_version = '$model_version'
order by "time"
