{#- A floating-point aggregate whose last digit does not depend on thread scheduling: parallel
    aggregation adds partial sums in whatever order threads finish, so re-running a model could change
    a value by one ulp. Ordering the input by the trips' stable key makes every run add in the same order. -#}
{% macro repeatable(aggregate, expression, order_by='trip_id') -%}
    cast({{ aggregate }}({{ expression }} order by {{ order_by }}) as double precision)
{%- endmacro %}
