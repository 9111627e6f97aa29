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

{#- The segments performance is broken down by (int_segments_aggregated): each a column of segmented_rows(). -#}
{% macro segment_types() -%}
    {%- if monitored_tables_configured() -%}
        {{ return(var('segment_columns', [])) }}
    {%- else -%}
        {{ return(['borough', 'time_of_day']) }}
    {%- endif -%}
{%- endmacro %}

{#- The contract's rows with their prediction error and one column per segment type. The taxi example's segments
    are derived: the pickup zone's borough and the pickup's time of day. -#}
{% macro segmented_rows() -%}
    select
        scored.{{ var('id_column') }},
        scored.split,
        scored.batch_date,
        scored.model_version,
        scored.passes_input_rules,
        scored.is_performance_row,
    {%- if monitored_tables_configured() %}
        {%- for column in segment_types() %}
        scored.{{ column }},
        {%- endfor %}
        scored.{{ var('prediction_column') }} - scored.{{ var('target_column') }} as prediction_error
    from {{ monitored_rows() }} as scored
    {%- else %}
        scored.{{ var('prediction_column') }} - scored.{{ var('target_column') }} as prediction_error,
        coalesce(zones.borough, 'Unknown') as borough,
        case
            when extract(hour from scored.pickup_datetime) < 6 then '00-06 night'
            when extract(hour from scored.pickup_datetime) < 12 then '06-12 morning'
            when extract(hour from scored.pickup_datetime) < 18 then '12-18 afternoon'
            else '18-24 evening'
        end as time_of_day
    from {{ monitored_rows() }} as scored
    left join {{ ref('stg_tlc__taxi_zones') }} as zones on scored.pickup_location_id = zones.location_id
    {%- endif %}
{%- endmacro %}

