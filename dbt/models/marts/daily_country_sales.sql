with

lines as (

    select * from {{ ref('fct_order_lines') }}
    where line_type in ('sale', 'cancellation')
    {% if is_incremental() -%}
        and sales_date >= {{ window_start('sales_date') }}
    {%- endif %}

),

daily as (

    select
        sales_date,
        country,
        count(distinct invoice_no) filter (where line_type = 'sale') as orders,
        count(distinct customer_id) filter (where line_type = 'sale') as customers,
        coalesce(sum(quantity) filter (where line_type = 'sale'), 0) as units,
        coalesce(sum(revenue) filter (where line_type = 'sale'), 0) as gross_revenue_exact,
        coalesce(-sum(revenue) filter (where line_type = 'cancellation'), 0)
            as cancelled_revenue_exact

    from lines
    group by sales_date, country

),

final as (

    select
        cast(sales_date as date) as sales_date,
        cast(country as varchar) as country,
        cast(orders as bigint) as orders,
        cast(customers as bigint) as customers,
        cast(units as bigint) as units,
        cast(gross_revenue_exact as decimal(18, 2)) as gross_revenue,
        cast(cancelled_revenue_exact as decimal(18, 2)) as cancelled_revenue,
        cast(gross_revenue_exact as decimal(18, 2))
        - cast(cancelled_revenue_exact as decimal(18, 2)) as net_revenue

    from daily

)

select * from final
