select model_version from marts.daily_model_monitoring
group by model_version
order by max(computed_at) desc nulls last, model_version
