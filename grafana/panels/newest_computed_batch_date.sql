select cast(newest_computed_batch_date as text) as "newest computed batch"
from marts.pipeline_health
where step = 'metrics'
