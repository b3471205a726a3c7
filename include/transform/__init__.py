"""dbt through Cosmos: one module owns every Cosmos config."""
