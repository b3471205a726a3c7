"""lakehouse-elt: the importable logic behind the `retail_elt` DAG and the `make` commands."""
