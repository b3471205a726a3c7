#!/bin/sh
# One-shot MinIO setup (the compose stack's `minio-init`, in the minio/mc image). Idempotent.
#
# Creates the raw bucket and the pipeline's own user, which may list the raw bucket and read
# and write its objects, and nothing else: no other bucket, no deletes, no admin rights.
# The root credentials (MINIO_ROOT_*) are used here only; Airflow gets S3_ACCESS_KEY.
set -eu

mc alias set lakehouse "http://minio:9000" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
mc mb --ignore-existing "lakehouse/$RAW_BUCKET"

cat > /tmp/lakehouse-pipeline.json <<POLICY
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
      "Resource": ["arn:aws:s3:::$RAW_BUCKET"]
    },
    {
      "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:PutObject"],
      "Resource": ["arn:aws:s3:::$RAW_BUCKET/*"]
    }
  ]
}
POLICY
mc admin policy create lakehouse lakehouse-pipeline /tmp/lakehouse-pipeline.json
mc admin user add lakehouse "$S3_ACCESS_KEY" "$S3_SECRET_KEY"
# Attaching an already attached policy is an error in mc; the state wanted is the same.
mc admin policy attach lakehouse lakehouse-pipeline --user "$S3_ACCESS_KEY" 2>/dev/null || \
  mc admin user info lakehouse "$S3_ACCESS_KEY" | grep -q lakehouse-pipeline
echo "minio-init: bucket $RAW_BUCKET; user $S3_ACCESS_KEY with policy lakehouse-pipeline"
