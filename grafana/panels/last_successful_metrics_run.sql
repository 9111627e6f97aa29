select cast(extract(epoch from last_success_at) * 1000 as double precision) as "last success"
from marts.pipeline_health
where step = 'metrics'
