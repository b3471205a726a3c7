"""Extract and load: raw files from S3 into DuckDB staging."""
