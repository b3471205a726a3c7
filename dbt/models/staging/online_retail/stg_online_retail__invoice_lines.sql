with

source as (

    select * from {{ source('online_retail', 'raw_invoice_lines') }}

),

renamed as (

    select
        -- ids
        trim(invoiceno) as invoice_no,
        trim(stockcode) as stock_code,
        try_cast(try_cast(nullif(trim(customerid), '') as double) as bigint) as customer_id,

        -- text
        description as description_raw,
        nullif(trim(description), '') as description,
        trim(country) as country_raw,

        -- numbers
        try_cast(trim(quantity) as bigint) as quantity,
        try_cast(trim(unitprice) as decimal(18, 3)) as unit_price,

        -- timestamps
        try_strptime(trim(invoicedate), '%Y-%m-%d %H:%M:%S') as invoiced_at,

        -- lineage
        _source_key as source_key,
        _source_etag as source_etag,
        _row_number as source_row_number,
        _partition_date as partition_date,
        _loaded_at as loaded_at,
        _run_id as load_run_id

    from source

)

select * from renamed
