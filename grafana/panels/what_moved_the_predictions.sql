select
    feature_name as feature,
    avg(contribution) as contribution,
    avg(mean_prediction_shift) as "mean prediction shift"
from marts.daily_prediction_attribution
where $__timeFilter(batch_date) and model_version = '$model_version'
group by feature_name
order by avg(abs(contribution)) desc, feature_name
