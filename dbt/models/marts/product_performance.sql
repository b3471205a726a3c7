-- Product performance over the whole history: units, revenue and cancellations per stock code.
with

lines as (

    select * from {{ ref('fct_order_lines') }}
    where line_type in ('sale', 'cancellation')

),

current_products as (

    select * from {{ ref('dim_product') }}
    where is_current

),

per_product as (

    select
        stock_code,
        count(distinct invoice_no) filter (where line_type = 'sale') as orders,
        coalesce(sum(quantity) filter (where line_type = 'sale'), 0) as units_sold,
        coalesce(sum(revenue) filter (where line_type = 'sale'), 0) as gross_revenue,
        coalesce(-sum(quantity) filter (where line_type = 'cancellation'), 0) as units_cancelled,
        coalesce(-sum(revenue) filter (where line_type = 'cancellation'), 0) as cancelled_revenue,
        min(sales_date) filter (where line_type = 'sale') as first_sale_date,
        max(sales_date) filter (where line_type = 'sale') as last_sale_date

    from lines
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
