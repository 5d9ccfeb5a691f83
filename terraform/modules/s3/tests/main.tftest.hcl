# The catalog's images bucket: never public, encrypted, versioned, TLS only, and an access policy
# that reaches this bucket and its key only.
mock_provider "aws" {
  override_during = plan

  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::shopfloor-prod-images-123456789012", id = "shopfloor-prod-images-123456789012" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/images" }
  }
}

variables {
  bucket_name = "shopfloor-prod-images-123456789012"
}

run "the_bucket_is_never_public" {
  command = plan

  assert {
    condition = alltrue([
      aws_s3_bucket_public_access_block.uploads.block_public_acls,
      aws_s3_bucket_public_access_block.uploads.block_public_policy,
      aws_s3_bucket_public_access_block.uploads.ignore_public_acls,
      aws_s3_bucket_public_access_block.uploads.restrict_public_buckets,
    ])
    error_message = "all four public access blocks are on"
  }
  assert {
    condition     = one(aws_s3_bucket_ownership_controls.uploads.rule).object_ownership == "BucketOwnerEnforced"
    error_message = "ACLs are disabled (bucket owner enforced)"
  }
  assert {
    condition     = jsondecode(aws_s3_bucket_policy.uploads.policy).Statement[0].Effect == "Deny" && jsondecode(aws_s3_bucket_policy.uploads.policy).Statement[0].Condition.Bool["aws:SecureTransport"] == "false"
    error_message = "requests without TLS are denied: ${aws_s3_bucket_policy.uploads.policy}"
  }
  assert {
    condition     = length(jsondecode(aws_s3_bucket_policy.uploads.policy).Statement) == 1
    error_message = "the bucket policy grants nothing, it only denies: ${aws_s3_bucket_policy.uploads.policy}"
  }
}

run "encrypted_and_versioned" {
  command = plan

  assert {
    condition     = one(one(aws_s3_bucket_server_side_encryption_configuration.uploads.rule).apply_server_side_encryption_by_default).sse_algorithm == "aws:kms"
    error_message = "objects are encrypted with KMS"
  }
  assert {
    condition     = one(one(aws_s3_bucket_server_side_encryption_configuration.uploads.rule).apply_server_side_encryption_by_default).kms_master_key_id == aws_kms_key.bucket.arn && aws_kms_key.bucket.enable_key_rotation
    error_message = "with the bucket's own rotating key"
  }
  assert {
    condition     = aws_s3_bucket_versioning.uploads.versioning_configuration[0].status == "Enabled"
    error_message = "versioning is on"
  }
  assert {
    condition     = !aws_s3_bucket.uploads.force_destroy
    error_message = "a non-empty bucket survives destroy unless asked (force_destroy defaults to false)"
  }
}

run "the_access_policy_is_least_privilege" {
  command = plan

  assert {
    condition = jsondecode(aws_iam_policy.access.policy).Statement == [
      { Sid = "ListTheBucket", Effect = "Allow", Action = ["s3:ListBucket"], Resource = "arn:aws:s3:::shopfloor-prod-images-123456789012" },
      { Sid = "ReadWriteImages", Effect = "Allow", Action = ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"], Resource = "arn:aws:s3:::shopfloor-prod-images-123456789012/*" },
      { Sid = "UseTheBucketKey", Effect = "Allow", Action = ["kms:Decrypt", "kms:GenerateDataKey"], Resource = "arn:aws:kms:eu-west-1:123456789012:key/images" },
    ]
    error_message = "the catalog lists, reads, writes and deletes objects of this bucket and uses its key, nothing else: ${aws_iam_policy.access.policy}"
  }
}
