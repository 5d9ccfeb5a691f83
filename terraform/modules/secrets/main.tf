# The environment's application secrets, declared without a value: Terraform state never holds one.
# scripts/aws/put-secrets.sh writes the values once (and rotates them); External Secrets reads them.
resource "aws_kms_key" "secrets" {
  #checkov:skip=CKV2_AWS_64:The default key policy delegates to IAM in this account; the IAM policies that use the key are scoped to it, which is where access is reviewed.
  description         = "${var.name} application secrets"
  enable_key_rotation = true
}

resource "aws_kms_alias" "secrets" {
  name          = "alias/${var.name}-secrets"
  target_key_id = aws_kms_key.secrets.key_id
}

resource "aws_secretsmanager_secret" "app" {
  #checkov:skip=CKV2_AWS_57:Values are random keys and passwords written by scripts/aws/put-secrets.sh, which also rotates them; there is no rotation Lambda for application keys.
  for_each = var.secrets

  name                    = each.value.name
  description             = "Shopfloor ${each.key}: JSON with ${join(", ", each.value.properties)} (scripts/aws/put-secrets.sh)"
  kms_key_id              = aws_kms_key.secrets.arn
  recovery_window_in_days = var.recovery_window_days

  lifecycle {
    precondition {
      condition     = startswith(each.value.name, var.secrets_prefix)
      error_message = "Secret ${each.value.name} is outside ${var.secrets_prefix}, where External Secrets may read."
    }
  }
}

locals {
  # What External Secrets needs and nothing else: read these secrets (not list, not write) and
  # decrypt through Secrets Manager only (a decrypt call outside it is refused).
  reader_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadTheEnvironmentsSecrets"
        Effect   = "Allow"
        Action   = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
        Resource = [for secret in aws_secretsmanager_secret.app : secret.arn]
      },
      {
        Sid      = "DecryptThroughSecretsManager"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = aws_kms_key.secrets.arn
        Condition = {
          StringEquals = { "kms:ViaService" = "secretsmanager.${var.region}.amazonaws.com" }
        }
      },
    ]
  }
}

resource "aws_iam_policy" "reader" {
  name        = "${var.name}-external-secrets-read"
  description = "External Secrets reads the ${var.secrets_prefix} secrets (IRSA role on EKS, node role on K3s)"
  policy      = jsonencode(local.reader_policy)
}

# Reading the RDS master secret is a policy of its own, attached by the stack once the role exists:
# inside the role's own policies it would make the role wait for the database, which waits for the
# cluster, which creates the role.
resource "aws_iam_policy" "database_master_reader" {
  count = var.grant_database_master_secret ? 1 : 0

  name        = "${var.name}-database-master-read"
  description = "The database bootstrap (through External Secrets) reads the RDS master secret"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadTheMasterSecret"
        Effect   = "Allow"
        Action   = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
        Resource = var.database_master_secret.arn
      },
      {
        Sid       = "DecryptThroughSecretsManager"
        Effect    = "Allow"
        Action    = ["kms:Decrypt"]
        Resource  = var.database_master_secret.kms_key_arn
        Condition = { StringEquals = { "kms:ViaService" = "secretsmanager.${var.region}.amazonaws.com" } }
      },
    ]
  })

  lifecycle {
    precondition {
      condition     = var.database_master_secret != null
      error_message = "grant_database_master_secret needs database_master_secret."
    }
  }
}
