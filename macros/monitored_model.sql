{#- The input contract (docs/contract.md): which model's rows the engines, marts and tests read. The taxi example
    builds its rows from the TLC files (int_trips_scored); a model configured by `monitored_tables` has them from
    its predictions and labels tables (int_predictions_labelled). Both carry the same columns: the id, the model
    version, `split` ('reference' or 'production'), `batch_date`, the rule flags, `is_performance_row` and the
    monitored columns of the seed, by the names the configuration gives them. -#}
{% macro monitored_rows() -%}
    {%- if monitored_tables_configured() -%}
        {{ return(ref('int_predictions_labelled')) }}
    {%- else -%}
        {{ return(ref('int_trips_scored')) }}
    {%- endif -%}
{%- endmacro %}

{#- The model versions the contract's rows are monitored for: those trained on the reference month (taxi), or
    every version with predictions in the model's own table. -#}
{% macro monitored_model_versions() -%}
    {%- if monitored_tables_configured() -%}
    select distinct model_version from {{ ref('stg_monitored__predictions') }}
    {%- else -%}
    select model_version from {{ ref('stg_model__model_versions') }}
    where reference_month = '{{ var("reference_month") }}'
    {%- endif -%}
{%- endmacro %}

{% macro monitored_tables_configured() -%}
    {{ return(var('monitored_tables', none) is not none) }}
{%- endmacro %}

{#- One of the monitored tables (`predictions` or `labels`) as the var names it; a placeholder where none is
    configured, as dbt parses the disabled models that read it too. -#}
{% macro monitored_table(role) -%}
    {%- set tables = var('monitored_tables', none) or {} -%}
    {{ return(tables.get(role, 'monitored_' ~ role)) }}
{%- endmacro %}

{#- `column` within the [start, end) period a var names, as timestamps (`false` for the taxi example, whose
    periods are months: a linter compiles the disabled models too). -#}
{% macro within_period(column, period_var) -%}
    {%- set period = var(period_var, none) -%}
    {%- if not monitored_tables_configured() -%}
        {{ return('false') }}
    {%- endif -%}
    {%- if period is none or period.get('start') is none or period.get('end') is none -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ period_var ~ " must be {start: 'YYYY-MM-DD[ HH:MM:SS]', end: ...} when monitored_tables is set") }}
    {%- endif -%}
    {%- for bound in [period.start, period.end] -%}
        {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}( [0-9]{2}:[0-9]{2}:[0-9]{2})?', bound | string) -%}
            {{ exceptions.raise_compiler_error(
                "var " ~ period_var ~ ": '" ~ bound ~ "' is not a 'YYYY-MM-DD[ HH:MM:SS]' timestamp") }}
        {%- endif -%}
    {%- endfor -%}
    {{ column }} >= cast('{{ period.start }}' as timestamp) and {{ column }} < cast('{{ period.end }}' as timestamp)
{%- endmacro %}
