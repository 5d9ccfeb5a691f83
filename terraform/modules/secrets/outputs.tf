output "secret_arns" {
  description = "ARN per declared secret, by consumer."
  value       = { for key, secret in aws_secretsmanager_secret.app : key => secret.arn }
}

output "reader_policy_arn" {
  description = "IAM policy External Secrets needs (attach to its IRSA role on EKS, to the node role on K3s)."
  value       = aws_iam_policy.reader.arn
}

output "database_master_reader_policy_arn" {
  description = "IAM policy reading the RDS master secret (null without RDS); the stack attaches it next to reader_policy_arn."
  value       = one(aws_iam_policy.database_master_reader[*].arn)
}

output "kms_key_arn" {
  description = "KMS key encrypting the secrets (put-secrets.sh writes through Secrets Manager, which uses it)."
  value       = aws_kms_key.secrets.arn
}
