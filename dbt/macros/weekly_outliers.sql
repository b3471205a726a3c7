{#-
    Weekly outliers, the peer system's rule: count distinct `id_column` per week, where year =
    strftime(date, '%Y') and week_number = strftime(date, '%W') (Monday-first; days before the
    year's first Monday are week 0). A week is an outlier when |1 - x / mean| > threshold, with
    mean the average weekly count over every week present in `relation`.
    Returns year, week_number, order_count of the outlier weeks (the caller orders them).
-#}
{% macro weekly_outliers(relation, date_column, id_column, threshold=0.2) %}

    with weekly as (
        select
            cast(strftime({{ date_column }}, '%Y') as integer) as year,
            cast(strftime({{ date_column }}, '%W') as integer) as week_number,
            count(distinct {{ id_column }}) as order_count
        from {{ relation }}
        group by year, week_number
    ),

    scored as (
        select
            *,
            avg(order_count) over () as mean_order_count
        from weekly
    )

    select
        year,
        week_number,
        order_count
    from scored
    where abs(1 - order_count / mean_order_count) > {{ threshold }}

{% endmacro %}
