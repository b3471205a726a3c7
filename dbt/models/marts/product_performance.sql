-- Product performance over the whole history: units, revenue and cancellations per stock code.
with

days as (

    -- Per product and day (incremental): summing days is summing lines.
    select * from {{ ref('product_daily_sales') }}

),

current_products as (

    select * from {{ ref('dim_product') }}
    where is_current

),

per_product as (

    select
        stock_code,
        sum(orders) as orders,
        sum(units_sold) as units_sold,
        sum(gross_revenue) as gross_revenue,
        sum(units_cancelled) as units_cancelled,
        sum(cancelled_revenue) as cancelled_revenue,
        min(sales_date) filter (where sale_lines > 0) as first_sale_date,
        max(sales_date) filter (where sale_lines > 0) as last_sale_date

    from days
    group by stock_code

),

final as (

    select
        cast(p.stock_code as varchar) as stock_code,
        cast(d.product_key as varchar) as product_key,
        cast(d.description as varchar) as description,
        cast(d.is_product as boolean) as is_product,
        cast(p.orders as bigint) as orders,
        cast(p.units_sold as bigint) as units_sold,
        cast(p.units_cancelled as bigint) as units_cancelled,
        cast(p.gross_revenue as decimal(18, 2)) as gross_revenue,
        cast(p.cancelled_revenue as decimal(18, 2)) as cancelled_revenue,
        cast(p.gross_revenue as decimal(18, 2))
        - cast(p.cancelled_revenue as decimal(18, 2)) as net_revenue,
        -- Cancelled units per unit sold; null for a product never sold.
        cast(round(p.units_cancelled / nullif(p.units_sold, 0), 4) as decimal(12, 4))
            as cancellation_rate,
        cast(p.first_sale_date as date) as first_sale_date,
        cast(p.last_sale_date as date) as last_sale_date

    from per_product as p
    left join current_products as d on p.stock_code = d.stock_code

)

select * from final
