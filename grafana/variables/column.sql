select column_name from marts.daily_column_drift
where model_version = '$model_version' and drift_score is not null
group by column_name
order by column_name
