{#- What moved the predictions: each day's shift of the mean prediction from the reference's, split into one
    contribution per feature. For a linear model the split is exact: the mean prediction is the intercept plus
    the sum of coefficient x the feature's mean, over the rows the model scored, so the shift is the sum of
    coefficient x the change of the feature's mean. Model versions without coefficients get no rows. -#}
{%- set features = engine_columns(['numerical_feature', 'categorical_feature']) | map(attribute='name') | list -%}
{%- set prediction = var('prediction_column') -%}

with

trips as (

    select * from {{ ref('int_trips_scored') }}
    -- the rows behind mean_prediction in daily_model_monitoring
    where passes_input_rules and {{ prediction }} is not null

),

coefficients as (

    select * from {{ ref('stg_model__model_coefficients') }}

),

side_means as (

    select
        split,
        batch_date,
        model_version,
        count(*) as scored_trips,
        {%- for feature in features %}
            {{ repeatable('avg', 'cast(' ~ feature ~ ' as ' ~ type_double() ~ ')') }} as mean_{{ feature }},
        {%- endfor %}
        {{ repeatable('avg', prediction) }} as mean_prediction
    from trips
    group by split, batch_date, model_version

),

feature_means as (

    {%- for feature in features %}
        select
            split,
            batch_date,
            model_version,
            scored_trips,
            '{{ feature }}' as feature_name,
            mean_{{ feature }} as feature_mean,
            mean_prediction
        from side_means
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
    {%- if not features %}
        select
            split,
            batch_date,
            model_version,
            scored_trips,
            cast(null as {{ dbt.type_string() }}) as feature_name,
            cast(null as {{ type_double() }}) as feature_mean,
            mean_prediction
        from side_means
        where 1 = 0
    {%- endif %}

),

final as (

    select
        batch.batch_date,
        batch.model_version,
        batch.feature_name,
        batch.scored_trips,
        coefficients.coefficient,
        batch.feature_mean,
        reference.feature_mean as reference_feature_mean,
        coefficients.coefficient * (batch.feature_mean - reference.feature_mean) as contribution,
        batch.mean_prediction,
        reference.mean_prediction as reference_mean_prediction,
        batch.mean_prediction - reference.mean_prediction as mean_prediction_shift
    from feature_means as batch
    inner join feature_means as reference
        on
            batch.model_version = reference.model_version
            and batch.feature_name = reference.feature_name
            and reference.split = 'reference'
    inner join coefficients
        on
            batch.model_version = coefficients.model_version
            and batch.feature_name = coefficients.term
    where batch.split = 'production'

)

select * from final
