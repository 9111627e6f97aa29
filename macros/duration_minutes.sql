{#- Minutes between two timestamps as one exact microsecond count divided once, so DuckDB, Postgres
    and pandas' total_seconds() / 60 agree to the last bit on the filter boundaries. -#}
{% macro duration_minutes(start_column, end_column) -%}
    {{ return(adapter.dispatch('duration_minutes', 'mlwatch')(start_column, end_column)) }}
{%- endmacro %}

{% macro default__duration_minutes(start_column, end_column) -%}
    cast(extract(epoch from ({{ end_column }} - {{ start_column }})) * 1000000 as {{ type_double() }})
    / cast(60000000 as {{ type_double() }})
{%- endmacro %}

{% macro duckdb__duration_minutes(start_column, end_column) -%}
    cast(date_diff('microsecond', {{ start_column }}, {{ end_column }}) as double)
    / cast(60000000 as double)
{%- endmacro %}

{% macro spark__duration_minutes(start_column, end_column) -%}
    cast(timestampdiff(MICROSECOND, {{ start_column }}, {{ end_column }}) as double)
    / cast(60000000 as double)
{%- endmacro %}
