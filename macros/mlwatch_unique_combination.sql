{#- Generic test: no two rows share the given columns (dbt_utils' unique_combination_of_columns,
    written here because hub packages cannot be installed offline). -#}
{% test mlwatch_unique_combination(model, columns) %}

select
    {{ columns | join(', ') }},
    count(*) as rows_sharing_key
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
