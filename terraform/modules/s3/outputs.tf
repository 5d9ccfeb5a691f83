output "bucket_name" {
  description = "Name of the uploads bucket (catalog's S3 bucket setting)."
  value       = aws_s3_bucket.uploads.bucket
}

output "bucket_arn" {
  description = "ARN of the uploads bucket."
  value       = aws_s3_bucket.uploads.arn
}

output "access_policy_arn" {
  description = "IAM policy granting object read/write on the bucket and use of its KMS key."
  value       = aws_iam_policy.access.arn
}

output "kms_key_arn" {
  description = "KMS key encrypting the bucket's objects."
  value       = aws_kms_key.bucket.arn
}
