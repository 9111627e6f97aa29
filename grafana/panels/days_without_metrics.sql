select days_without_metrics as "days without metrics"
from marts.pipeline_health
where step = 'metrics'
