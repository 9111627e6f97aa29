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

{#- One row per day of every production month (or of the production period), as `batch_date`. -#}
{% macro production_days() -%}
    {{ return(adapter.dispatch('production_days', 'mlwatch')()) }}
{%- endmacro %}

{#- A model configured by monitored_tables: the days of its production period, [start, end). -#}
{% macro production_period_days() -%}
    {%- set period = var('production_period') -%}
    {{ return((
        "cast('" ~ period.start ~ "' as timestamp)",
        "cast('" ~ period.end ~ "' as timestamp) - interval '1 microsecond'",
    )) }}
{%- endmacro %}

{% macro default__production_days() -%}
    {%- if monitored_tables_configured() %}
    {%- set first, last = production_period_days() %}
    select cast(day as date) as batch_date
    from generate_series(
        cast(cast({{ first }} as date) as timestamp), cast(cast({{ last }} as date) as timestamp), interval '1 day'
    ) as days (day)
    {%- else %}
    {%- for month in var('production_months') %}
    select cast(day as date) as batch_date
    from generate_series(
        cast({{ month_start(month) }} as timestamp),
        cast({{ next_month_start(month) }} as timestamp) - interval '1 day',
        interval '1 day'
    ) as days (day)
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
    {%- endif %}
{%- endmacro %}

{% macro spark__production_days() -%}
    {%- if monitored_tables_configured() %}
    {%- set first, last = production_period_days() %}
    select explode(sequence(cast({{ first }} as date), cast({{ last }} as date), interval 1 day)) as batch_date
    {%- else %}
    {%- for month in var('production_months') %}
    select explode(sequence(
        {{ month_start(month) }}, date_sub({{ next_month_start(month) }}, 1), interval 1 day
    )) as batch_date
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
    {%- endif %}
{%- endmacro %}
