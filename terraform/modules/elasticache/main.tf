resource "aws_kms_key" "redis" {
  #checkov:skip=CKV2_AWS_64:The default key policy delegates to IAM in this account; the IAM policies that use the key are scoped to it, which is where access is reviewed.
  description         = "${var.name} Redis at-rest encryption"
  enable_key_rotation = true
}

resource "aws_elasticache_subnet_group" "redis" {
  name       = var.name
  subnet_ids = var.subnet_ids
}

resource "aws_security_group" "redis" {
  name        = "${var.name}-redis"
  description = "Redis reachable only from the cluster nodes"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "from_cluster" {
  security_group_id            = aws_security_group.redis.id
  description                  = "Redis from the cluster"
  referenced_security_group_id = var.cluster_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = var.port
  to_port                      = var.port
}

resource "aws_elasticache_replication_group" "redis" {
  #checkov:skip=CKV_AWS_31:TLS is required here; the AUTH token is set by scripts/aws/put-secrets.sh (ModifyReplicationGroup) so it never sits in Terraform state or plan.
  replication_group_id = var.name
  description          = "${var.name} cache"
  engine               = "redis"
  engine_version       = var.engine_version
  node_type            = var.node_type
  port                 = var.port

  num_cache_clusters         = var.replicas + 1
  automatic_failover_enabled = true
  multi_az_enabled           = true

  subnet_group_name  = aws_elasticache_subnet_group.redis.name
  security_group_ids = [aws_security_group.redis.id]

  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.redis.arn
  transit_encryption_enabled = true
  transit_encryption_mode    = "required"
  # No auth_token here: it would sit in Terraform state. scripts/aws/put-secrets.sh generates it,
  # sets it on the group (ModifyReplicationGroup, strategy ROTATE) and keeps it in Secrets Manager
  # (shopfloor/<env>/redis), the one place the services read it from.

  snapshot_retention_limit   = var.snapshot_retention_days
  auto_minor_version_upgrade = true
  apply_immediately          = false

  lifecycle {
    ignore_changes = [auth_token, auth_token_update_strategy]
  }
}

# The charts' redis ExternalName points at this name.
resource "aws_route53_record" "redis" {
  zone_id = var.internal_zone_id
  name    = var.dns_name
  type    = "CNAME"
  ttl     = 60
  records = [aws_elasticache_replication_group.redis.primary_endpoint_address]
}
