-- Incremental by invoice day (dbt_project.yml): a run rebuilds the days of its window.
with

lines as (

    select * from {{ ref('stg_online_retail__invoice_lines') }}
    {% if is_incremental() -%}
    -- Only the window's days are rebuilt. A line's invoice day is its landing day (the bronze
    -- gate checks it), and the landing day is the staging table's partition column.
    where partition_date >= {{ window_start() }}
    {%- endif %}

),

-- Exact duplicate raw rows (all 8 source fields equal) count once: keep the first copy.
numbered as (

    select
        *,
        row_number() over (
            partition by
                invoice_no, stock_code, description_raw, quantity,
                invoiced_at, unit_price, customer_id, country_raw
            order by partition_date, source_key, source_row_number
        ) as copy_number,
        count(*) over (
            partition by
                invoice_no, stock_code, description_raw, quantity,
                invoiced_at, unit_price, customer_id, country_raw
        ) as copies_in_source

    from lines

),

deduplicated as (

    select * from numbered
    where copy_number = 1

),

conformed as (

    select
        md5(concat_ws(
            '|', invoice_no, stock_code, coalesce(description_raw, ''), quantity,
            invoiced_at, unit_price, coalesce(cast(customer_id as varchar), ''), country_raw
        )) as invoice_line_id,
        invoice_no,
        upper(stock_code) as stock_code,
        description,
        customer_id,
        case country_raw
            when 'EIRE' then 'Ireland'
            when 'RSA' then 'South Africa'
            when 'USA' then 'United States'
            when 'European Community' then 'Unspecified'
            else country_raw
        end as country,
        country_raw,
        quantity,
        unit_price,
        cast(quantity * unit_price as decimal(18, 3)) as line_revenue,
        invoiced_at,
        cast(invoiced_at as date) as sales_date,
        case
            when starts_with(invoice_no, 'C') then 'cancellation'
            when starts_with(invoice_no, 'A') or quantity < 0 then 'adjustment'
            when quantity > 0 and unit_price > 0 then 'sale'
            else 'zero_price'
        end as line_type,
        upper(stock_code) not in (
            'POST', 'DOT', 'M', 'C2', 'D', 'S', 'BANK CHARGES',
            'AMAZONFEE', 'CRUK', 'PADS', 'B'
        )
        and not starts_with(upper(stock_code), 'GIFT_')
        and not starts_with(upper(stock_code), 'DCGS') as is_product,
        copies_in_source - 1 as duplicate_copies,
        partition_date,
        source_key,
        source_row_number

    from deduplicated

)

select * from conformed
