-- Dimensions load before facts; their relationships tests run with this model's build.
-- depends_on: {{ ref('dim_date') }}
-- depends_on: {{ ref('dim_country') }}
-- depends_on: {{ ref('dim_customer') }}

with

orders as (

    select * from {{ ref('int_orders') }}
    {% if is_incremental() -%}
        where sales_date >= {{ window_start('sales_date') }}
    {%- endif %}

),

customer_versions as (

    select * from {{ ref('int_customer_versions') }}

),

final as (

    select
        cast(o.invoice_no as varchar) as invoice_no,
        cast(o.sales_date as date) as sales_date,
        cast(o.invoiced_at as timestamp) as invoiced_at,
        cast(c.customer_version_id as varchar) as customer_key,
        cast(md5(o.country) as varchar) as country_key,
        cast(o.customer_id as bigint) as customer_id,
        cast(o.country as varchar) as country,
        cast(o.order_type as varchar) as order_type,
        cast(o.line_count as bigint) as line_count,
        cast(o.sale_line_count as bigint) as sale_line_count,
        cast(o.units as bigint) as units,
        cast(o.gross_revenue as decimal(18, 3)) as gross_revenue,
        cast(o.cancelled_revenue as decimal(18, 3)) as cancelled_revenue,
        cast(o.total_line_revenue as decimal(18, 3)) as total_line_revenue

    from orders as o
    left join customer_versions as c
        on
            o.customer_id = c.customer_id
            and o.sales_date >= c.valid_from
            and o.sales_date < coalesce(c.valid_to, date '9999-12-31')

)

select * from final
