output "primary_endpoint" {
  description = "Primary endpoint address of the replication group."
  value       = aws_elasticache_replication_group.redis.primary_endpoint_address
}

output "dns_name" {
  description = "Stable private DNS name pointing at the primary (the redis chart's externalName)."
  value       = aws_route53_record.redis.fqdn
}

output "auth_secret_arn" {
  description = "Secrets Manager secret holding the Redis AUTH token."
  value       = aws_secretsmanager_secret.auth.arn
}

output "security_group_id" {
  description = "Security group of the cache."
  value       = aws_security_group.redis.id
}
