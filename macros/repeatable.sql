{#- A floating-point aggregate whose last digit does not depend on thread scheduling: parallel
    aggregation adds partial sums in whatever order threads finish, so re-running a model could change
    a value by one ulp. Ordering the input by the rows' stable key (the var id_column) makes every run add in the
    same order. -#}
{% macro repeatable(aggregate, expression, order_by=none) -%}
    {{ return(adapter.dispatch('repeatable', 'mlwatch')(aggregate, expression, order_by or var('id_column'))) }}
{%- endmacro %}

{% macro default__repeatable(aggregate, expression, order_by) -%}
    cast({{ aggregate }}({{ expression }} order by {{ order_by }}) as {{ type_double() }})
{%- endmacro %}

{#- Spark has no ordered aggregates but sorts arrays: the group's non-null values sorted by the key,
    then added in that order (sum, and avg as that sum over their count; null when there are none). -#}
{% macro spark__repeatable(aggregate, expression, order_by) -%}
    {%- if aggregate not in ('sum', 'avg') -%}
        {{ exceptions.raise_compiler_error("repeatable() on Spark implements sum and avg, not " ~ aggregate) }}
    {%- endif -%}
    {%- set values -%}
        array_sort(collect_list(case when ({{ expression }}) is not null
            then struct({{ order_by }} as sort_key, cast({{ expression }} as double) as summand) end))
    {%- endset -%}
    aggregate(
        {{ values }}, cast(null as double),
        (total, item) -> coalesce(total, 0) + item.summand
    ){% if aggregate == 'avg' %} / nullif(count({{ expression }}), 0){% endif %}
{%- endmacro %}
