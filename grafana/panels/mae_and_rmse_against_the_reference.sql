select
    cast(batch_date as timestamp) as "time",
    mae as "MAE",
    rmse as "RMSE",
    reference_mae as "reference MAE",
    reference_rmse as "reference RMSE"
from marts.daily_model_monitoring
where $__timeFilter(batch_date) and model_version = '$model_version'
order by "time"
