select
    cast(batch_date as timestamp) as "time",
    estimated_mae as "estimated MAE",
    estimated_mae_lower as "band low",
    estimated_mae_upper as "band high",
    realized_mae as "realized MAE",
    reference_mae * harm_mae_ratio as "harm level"
from marts.daily_performance_estimates
where $__timeFilter(batch_date) and model_version = '$model_version'
order by "time"
