-- Products with SCD2 history of description and list price (business time: invoice days).
with

versions as (

    select * from {{ ref('int_product_versions') }}

),

final as (

    select
        cast(product_version_id as varchar) as product_key,
        cast(stock_code as varchar) as stock_code,
        cast(description as varchar) as description,
        cast(list_price as decimal(18, 3)) as list_price,
        cast(is_product as boolean) as is_product,
        cast(valid_from as date) as valid_from,
        cast(valid_to as date) as valid_to,
        cast(is_current as boolean) as is_current

    from versions

)

select * from final
