# Secrets declared without values, and External Secrets allowed to read exactly them.
mock_provider "aws" {
  override_during = plan

  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/secrets" }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:shopfloor/prod/SECRET-AbCdEf" }
  }
}

variables {
  name           = "shopfloor-prod"
  secrets_prefix = "shopfloor/prod/"
  region         = "eu-west-1"
  secrets = {
    catalog = { name = "shopfloor/prod/catalog", properties = ["ADMIN_API_KEY"] }
    redis   = { name = "shopfloor/prod/redis", properties = ["auth-token", "url"] }
  }
}

run "secrets_have_no_value_in_terraform" {
  command = plan

  assert {
    condition     = toset([for secret in aws_secretsmanager_secret.app : secret.name]) == toset(["shopfloor/prod/catalog", "shopfloor/prod/redis"])
    error_message = "every secret of the contract is declared, by its contract name"
  }
  assert {
    condition     = alltrue([for secret in aws_secretsmanager_secret.app : secret.kms_key_id == aws_kms_key.secrets.arn])
    error_message = "the secrets are encrypted with their own customer-managed key"
  }
  assert {
    condition     = aws_kms_key.secrets.enable_key_rotation
    error_message = "the secrets' key rotates"
  }
}

run "the_reader_policy_is_least_privilege" {
  command = plan

  assert {
    condition     = jsondecode(aws_iam_policy.reader.policy).Statement[0].Action == ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    error_message = "External Secrets only reads secrets: ${aws_iam_policy.reader.policy}"
  }
  assert {
    condition     = length(jsondecode(aws_iam_policy.reader.policy).Statement[0].Resource) == 2 && !anytrue([for arn in jsondecode(aws_iam_policy.reader.policy).Statement[0].Resource : strcontains(arn, "*")])
    error_message = "it reads the declared secrets by ARN, no wildcard: ${aws_iam_policy.reader.policy}"
  }
  assert {
    condition     = jsondecode(aws_iam_policy.reader.policy).Statement[1].Action == ["kms:Decrypt"] && jsondecode(aws_iam_policy.reader.policy).Statement[1].Resource == "arn:aws:kms:eu-west-1:123456789012:key/secrets"
    error_message = "it decrypts with the secrets' key only: ${aws_iam_policy.reader.policy}"
  }
  assert {
    condition     = jsondecode(aws_iam_policy.reader.policy).Statement[1].Condition.StringEquals["kms:ViaService"] == "secretsmanager.eu-west-1.amazonaws.com"
    error_message = "decryption is allowed through Secrets Manager only"
  }
  assert {
    condition     = length(jsondecode(aws_iam_policy.reader.policy).Statement) == 2
    error_message = "the policy has no other statement: ${aws_iam_policy.reader.policy}"
  }
  assert {
    condition     = length(aws_iam_policy.database_master_reader) == 0
    error_message = "without RDS nothing reads a master secret"
  }
}

run "with_rds_the_bootstrap_reads_the_master_secret_only" {
  command = plan

  variables {
    grant_database_master_secret = true
    database_master_secret = {
      arn         = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1234-AbCdEf"
      kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/rds"
    }
  }

  assert {
    condition = jsondecode(aws_iam_policy.database_master_reader[0].policy).Statement == [
      { Sid = "ReadTheMasterSecret", Effect = "Allow", Action = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"], Resource = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1234-AbCdEf" },
      { Sid = "DecryptThroughSecretsManager", Effect = "Allow", Action = ["kms:Decrypt"], Resource = "arn:aws:kms:eu-west-1:123456789012:key/rds", Condition = { StringEquals = { "kms:ViaService" = "secretsmanager.eu-west-1.amazonaws.com" } } },
    ]
    error_message = "the master secret and its key, read-only, through Secrets Manager: ${aws_iam_policy.database_master_reader[0].policy}"
  }
}

run "a_secret_outside_the_prefix_is_refused" {
  command = plan

  variables {
    secrets = {
      stray = { name = "other/prod/stray", properties = ["KEY"] }
    }
  }

  expect_failures = [aws_secretsmanager_secret.app]
}
