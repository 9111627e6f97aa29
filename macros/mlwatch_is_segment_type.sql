{#- Generic test: every value names a segment type of the configuration (macros/monitored_model.sql, segment_types). -#}
{% test mlwatch_is_segment_type(model, column_name) %}

select {{ column_name }}
from {{ model }}
where
    {{ column_name }} not in (
        {%- for segment_type in segment_types() %}'{{ segment_type }}'{% if not loop.last %}, {% endif %}
        {%- else %}''{% endfor -%}
    )

{% endtest %}
