"""S3 access: raw-file layout, listing, landing, buckets and the local S3 stand-in."""
