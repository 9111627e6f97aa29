{#- Columns pivoted out of raw.batch_metrics' long rows (stg_monitoring__batch_metrics), for a query
    grouped by batch date and model version (and column). An entry is a metric's name (its
    `metric_value`, named after the metric) or a dict of `metric`, `column` (that column's row only)
    and either `as` (the name of its metric_value) or `fields` (field -> name, for other fields of
    its row). A group has at most one row per metric and column, which the aggregate picks: bool_or
    for the flags, max for the rest. -#}
{% macro pivot_batch_metrics(entries) -%}
    {%- set flags = ['drift_detected', 'calibrated_drift_detected'] -%}
    {%- set columns = [] -%}
    {%- for entry in entries -%}
        {%- set entry = {'metric': entry} if entry is string else entry -%}
        {%- set row = "metric_name = '" ~ entry.metric ~ "'" -%}
        {%- if 'column' in entry -%}
            {%- set row = row ~ " and column_name = '" ~ entry.column ~ "'" -%}
        {%- endif -%}
        {%- for field, name in entry.get('fields', {'metric_value': entry.get('as', entry.metric)}).items() -%}
            {%- set picked = 'case when ' ~ row ~ ' then ' ~ field ~ ' end' -%}
            {%- set aggregated = dbt.bool_or(picked) if field in flags else 'max(' ~ picked ~ ')' -%}
            {%- do columns.append(aggregated | trim ~ ' as ' ~ name) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(columns | join(',\n        ')) }}
{%- endmacro %}
