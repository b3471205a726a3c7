-- RFM segments of every customer with a sale: recency, frequency and monetary value scored
-- 1-5 by percentile (equal values share a score), then named segments. Scores are relative to
-- all customers, so the table is rebuilt in full each run.
with

days as (

    -- Per customer and day (incremental): summing days is summing the customer's lines.
    select * from {{ ref('customer_daily_sales') }}

),

reference as (

    -- Recency is measured from the day after the newest invoice day in the warehouse.
    select max(sales_date) + 1 as reference_date
    from {{ ref('fct_order_lines') }}

),

customers as (

    select
        customer_id,
        max(sales_date) filter (where sale_lines > 0) as last_order_date,
        sum(orders) as frequency,
        sum(sale_revenue) + sum(cancellation_revenue) as monetary

    from days
    group by customer_id
    having sum(sale_lines) > 0

),

scored as (

    select
        c.*,
        r.reference_date - c.last_order_date as recency_days,
        least(
            5,
            1 + floor(5 * percent_rank() over (order by r.reference_date - c.last_order_date desc))
        )
            as r_score,
        least(5, 1 + floor(5 * percent_rank() over (order by c.frequency))) as f_score,
        least(5, 1 + floor(5 * percent_rank() over (order by c.monetary))) as m_score

    from customers as c
    cross join reference as r

),

final as (

    select
        cast(customer_id as bigint) as customer_id,
        cast(last_order_date as date) as last_order_date,
        cast(recency_days as integer) as recency_days,
        cast(frequency as bigint) as frequency,
        cast(monetary as decimal(18, 2)) as monetary,
        cast(r_score as integer) as r_score,
        cast(f_score as integer) as f_score,
        cast(m_score as integer) as m_score,
        cast(
            case
                when r_score >= 4 and f_score >= 4 and m_score >= 4 then 'champions'
                when r_score >= 3 and f_score >= 4 then 'loyal'
                when r_score >= 4 and f_score <= 2 then 'new'
                when r_score <= 2 and f_score >= 3 then 'at_risk'
                when r_score <= 2 and f_score <= 2 then 'lost'
                else 'potential'
            end as varchar
        ) as rfm_segment

    from scored

)

select * from final
