output "primary_endpoint" {
  description = "Primary endpoint address of the replication group."
  value       = aws_elasticache_replication_group.redis.primary_endpoint_address
}

output "dns_name" {
  description = "Stable private DNS name pointing at the primary (the redis chart's externalName)."
  value       = aws_route53_record.redis.fqdn
}

output "replication_group_id" {
  description = "Replication group id (put-secrets.sh sets the AUTH token on it)."
  value       = aws_elasticache_replication_group.redis.id
}

output "port" {
  description = "Redis port."
  value       = aws_elasticache_replication_group.redis.port
}

output "security_group_id" {
  description = "Security group of the cache."
  value       = aws_security_group.redis.id
}
