-- Each product's current state: the source of the products snapshot.
with

versions as (

    select * from {{ ref('int_product_versions') }}

),

final as (

    select
        stock_code,
        description,
        list_price,
        is_product,
        valid_from as current_since

    from versions
    where is_current

)

select * from final
