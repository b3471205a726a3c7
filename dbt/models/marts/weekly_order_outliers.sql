-- Weeks whose count of distinct sale invoices is more than 20% off the mean week
-- (the peer system's rule, macros/weekly_outliers.sql). Whole history: rebuilt in full.
with

sale_orders as (

    -- One row per invoice (an invoice has one invoice day): the invoices with a sale line.
    select * from {{ ref('fct_orders') }}
    where sale_line_count > 0

),

outliers as (

    {{ weekly_outliers('sale_orders', 'sales_date', 'invoice_no', threshold=0.2) }}

),

final as (

    select
        cast(year as integer) as year,
        cast(week_number as integer) as week_number,
        cast(order_count as bigint) as order_count

    from outliers

)

select * from final
order by year, week_number
