resource "aws_kms_key" "bucket" {
  #checkov:skip=CKV2_AWS_64:The default key policy delegates to IAM in this account; the IAM policies that use the key are scoped to it, which is where access is reviewed.
  description         = "${var.bucket_name} object encryption"
  enable_key_rotation = true
}

resource "aws_s3_bucket" "uploads" {
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles storage cost; versioning and backups cover product images, which can be re-uploaded.
  #checkov:skip=CKV_AWS_18:Access logging needs a separate log bucket per account; CloudTrail data events are the audit trail for this bucket.
  #checkov:skip=CKV2_AWS_62:Nothing consumes object events yet; the catalog writes and reads images itself.
  bucket        = var.bucket_name
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_public_access_block" "uploads" {
  bucket = aws_s3_bucket.uploads.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "uploads" {
  bucket = aws_s3_bucket.uploads.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "uploads" {
  bucket = aws_s3_bucket.uploads.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "uploads" {
  bucket = aws_s3_bucket.uploads.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.bucket.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "uploads" {
  bucket = aws_s3_bucket.uploads.id

  rule {
    id     = "tidy"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }

    noncurrent_version_transition {
      noncurrent_days = 30
      storage_class   = "STANDARD_IA"
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiry_days
    }
  }
}

# Policies are written as JSON here rather than with aws_iam_policy_document: a data source is
# replaced by random text under terraform test's mock provider, and these are what the tests read.
locals {
  tls_only_policy = {
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.uploads.arn, "${aws_s3_bucket.uploads.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  }

  # What the catalog needs, attached to its IRSA role (EKS) or the node role (K3s).
  access_policy = {
    Version = "2012-10-17"
    Statement = [
      { Sid = "ListTheBucket", Effect = "Allow", Action = ["s3:ListBucket"], Resource = aws_s3_bucket.uploads.arn },
      { Sid = "ReadWriteImages", Effect = "Allow", Action = ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"], Resource = "${aws_s3_bucket.uploads.arn}/*" },
      { Sid = "UseTheBucketKey", Effect = "Allow", Action = ["kms:Decrypt", "kms:GenerateDataKey"], Resource = aws_kms_key.bucket.arn },
    ]
  }
}

resource "aws_s3_bucket_policy" "uploads" {
  bucket = aws_s3_bucket.uploads.id
  policy = jsonencode(local.tls_only_policy)

  depends_on = [aws_s3_bucket_public_access_block.uploads]
}

resource "aws_iam_policy" "access" {
  name        = "${var.bucket_name}-access"
  description = "Read and write objects in ${var.bucket_name}"
  policy      = jsonencode(local.access_policy)
}
