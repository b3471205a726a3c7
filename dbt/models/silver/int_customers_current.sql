-- Each customer's current country: the source of the customers snapshot.
with

versions as (

    select * from {{ ref('int_customer_versions') }}

),

final as (

    select
        customer_id,
        country,
        valid_from as current_since

    from versions
    where is_current

)

select * from final
