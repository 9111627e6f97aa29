select
    attribution.feature_name as feature,
    avg(attribution.contribution) as contribution,
    avg(attribution.mean_prediction_shift) as "mean prediction shift"
from marts.daily_prediction_attribution as attribution
where $__timeFilter(attribution.batch_date) and attribution.model_version = '$model_version'
group by attribution.feature_name
-- qualified: Spark would read a bare `contribution` here as the output column of that name
order by avg(abs(attribution.contribution)) desc, attribution.feature_name
