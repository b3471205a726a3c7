-- Dimensions load before facts; their relationships tests run with this model's build.
-- depends_on: {{ ref('dim_date') }}
-- depends_on: {{ ref('dim_country') }}
-- depends_on: {{ ref('dim_product') }}
-- depends_on: {{ ref('dim_customer') }}
-- depends_on: {{ ref('fct_orders') }}

with

lines as (

    select * from {{ ref('int_invoice_lines_conformed') }}
    {% if is_incremental() -%}
        where sales_date >= {{ window_start('sales_date') }}
    {%- endif %}

),

product_versions as (

    select * from {{ ref('int_product_versions') }}

),

customer_versions as (

    select * from {{ ref('int_customer_versions') }}

),

final as (

    select
        cast(l.invoice_line_id as varchar) as order_line_id,
        cast(l.invoice_no as varchar) as invoice_no,
        cast(l.sales_date as date) as sales_date,
        cast(l.invoiced_at as timestamp) as invoiced_at,
        cast(p.product_version_id as varchar) as product_key,
        cast(c.customer_version_id as varchar) as customer_key,
        cast(md5(l.country) as varchar) as country_key,
        cast(l.stock_code as varchar) as stock_code,
        cast(l.customer_id as bigint) as customer_id,
        cast(l.country as varchar) as country,
        cast(l.line_type as varchar) as line_type,
        cast(l.is_product as boolean) as is_product,
        cast(l.quantity as bigint) as quantity,
        cast(l.unit_price as decimal(18, 3)) as unit_price,
        cast(l.line_revenue as decimal(18, 3)) as revenue

    from lines as l
    -- The product and customer versions valid on the line's day (SCD2, business time).
    -- Open versions compare with a far date, not `valid_to is null or ...`: an OR here
    -- made the join take 34 s instead of 0.07 s on the shipped history.
    left join product_versions as p
        on
            l.stock_code = p.stock_code
            and l.sales_date >= p.valid_from
            and l.sales_date < coalesce(p.valid_to, date '9999-12-31')
    left join customer_versions as c
        on
            l.customer_id = c.customer_id
            and l.sales_date >= c.valid_from
            and l.sales_date < coalesce(c.valid_to, date '9999-12-31')

)

select * from final
