-- Monthly cohorts: customers grouped by the month of their first sale; for each later month,
-- how many of them bought again. Whole-history by definition, so rebuilt in full each run.
with

customer_months as (

    -- Per customer and day (incremental), the days with a sale.
    select distinct
        customer_id,
        cast(date_trunc('month', sales_date) as date) as activity_month

    from {{ ref('customer_daily_sales') }}
    where sale_lines > 0

),

cohorts as (

    select
        customer_id,
        min(activity_month) as cohort_month

    from customer_months
    group by customer_id

),

cohort_sizes as (

    select
        cohort_month,
        count(*) as cohort_size

    from cohorts
    group by cohort_month

),

activity as (

    select
        c.cohort_month,
        m.activity_month,
        count(*) as active_customers

    from customer_months as m
    inner join cohorts as c on m.customer_id = c.customer_id
    group by c.cohort_month, m.activity_month

),

final as (

    select
        cast(a.cohort_month as date) as cohort_month,
        cast(a.activity_month as date) as activity_month,
        cast(date_diff('month', a.cohort_month, a.activity_month) as integer)
            as months_since_first,
        cast(s.cohort_size as bigint) as cohort_size,
        cast(a.active_customers as bigint) as active_customers,
        cast(round(a.active_customers / s.cohort_size, 4) as decimal(9, 4)) as retention_rate

    from activity as a
    inner join cohort_sizes as s on a.cohort_month = s.cohort_month

)

select * from final
