{#- Months are configured as 'YYYY-MM' strings; these turn them into date literals. -#}
{% macro month_start(month) -%}
    {%- set parts = (month | string).split('-') -%}
    {%- if parts | length != 2 -%}
        {{ exceptions.raise_compiler_error("Month '" ~ month ~ "' is not in YYYY-MM form") }}
    {%- endif -%}
    cast('{{ parts[0] }}-{{ parts[1] }}-01' as date)
{%- endmacro %}

{% macro next_month_start(month) -%}
    {%- set parts = (month | string).split('-') -%}
    {%- set year = parts[0] | int -%}
    {%- set mon = parts[1] | int -%}
    {%- if mon == 12 -%}{%- set year = year + 1 -%}{%- set mon = 1 -%}{%- else -%}{%- set mon = mon + 1 -%}{%- endif -%}
    cast('{{ "%04d-%02d-01" | format(year, mon) }}' as date)
{%- endmacro %}

{#- One row per day of every production month, as `batch_date`. -#}
{% macro production_days() -%}
    {{ return(adapter.dispatch('production_days', 'mlwatch')()) }}
{%- endmacro %}

{% macro default__production_days() -%}
    {%- for month in var('production_months') %}
    select cast(day as date) as batch_date
    from generate_series(
        cast({{ month_start(month) }} as timestamp),
        cast({{ next_month_start(month) }} as timestamp) - interval '1 day',
        interval '1 day'
    ) as days (day)
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}

{% macro spark__production_days() -%}
    {%- for month in var('production_months') %}
    select explode(sequence(
        {{ month_start(month) }}, date_sub({{ next_month_start(month) }}, 1), interval 1 day
    )) as batch_date
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}
