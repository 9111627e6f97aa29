select
    cast(batch_date as timestamp) as "time",
    prediction_drift_score as "drift score",
    prediction_calibrated_threshold as "calibrated threshold",
    prediction_drift_threshold as "Evidently threshold",
    case when prediction_drift_detected_calibrated then prediction_drift_score end as "drift (calibrated)"
from marts.daily_model_monitoring
where $__timeFilter(batch_date) and model_version = '$model_version'
order by "time"
