output "endpoint" {
  description = "RDS endpoint address (host only)."
  value       = aws_db_instance.postgres.address
}

output "dns_name" {
  description = "Stable private DNS name pointing at the endpoint (the postgresql chart's externalName)."
  value       = aws_route53_record.postgresql.fqdn
}

output "port" {
  description = "PostgreSQL port."
  value       = aws_db_instance.postgres.port
}

output "master_user_secret_arn" {
  description = "Secrets Manager secret holding the RDS-managed master password."
  value       = aws_db_instance.postgres.master_user_secret[0].secret_arn
}

output "security_group_id" {
  description = "Security group of the database."
  value       = aws_security_group.rds.id
}

output "kms_key_arn" {
  description = "KMS key of the storage and the master secret (reading the secret needs kms:Decrypt on it)."
  value       = aws_kms_key.rds.arn
}
