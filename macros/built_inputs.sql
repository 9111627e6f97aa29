{#- `mlwatch metrics` skips building its inputs while what they were built from is unchanged
    (python/mlwatch/built_inputs.py). A dbt run that is not one of mlwatch's own builds may have rebuilt them
    from other vars: it forgets the fingerprint, so the next `mlwatch metrics` builds them again. Committed
    here: dbt runs on-run-end hooks outside a transaction, and the relation look-up may have opened one. -#}
{% macro forget_built_metric_inputs() -%}
    {%- if execute and env_var('MLWATCH_STEP_BUILD', '') == '' -%}
        {%- set relation = adapter.get_relation(
            database=none if target.type == 'spark' else target.database,
            schema='raw',
            identifier='metric_inputs_builds'
        ) -%}
        {%- if relation is not none -%}
            {%- call statement('forget_built_metric_inputs', auto_begin=True) -%}
                truncate table {{ relation }}
            {%- endcall -%}
            {%- do adapter.commit() -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
