# Redis on ElastiCache: Multi-AZ with failover, TLS required, encrypted at rest, and no AUTH token
# anywhere in Terraform (put-secrets.sh sets it and keeps it in Secrets Manager).
mock_provider "aws" {
  override_during = plan

  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/redis" }
  }
}

variables {
  name                      = "shopfloor-prod"
  vpc_id                    = "vpc-mock"
  subnet_ids                = ["subnet-a", "subnet-b", "subnet-c"]
  cluster_security_group_id = "sg-nodes"
  internal_zone_id          = "Z0MOCK"
  dns_name                  = "redis.prod.shopfloor.internal"
}

run "multi_az_tls_and_encrypted" {
  command = plan

  assert {
    condition     = aws_elasticache_replication_group.redis.multi_az_enabled && aws_elasticache_replication_group.redis.automatic_failover_enabled && aws_elasticache_replication_group.redis.num_cache_clusters >= 2
    error_message = "a replica in another zone takes over automatically"
  }
  assert {
    condition     = aws_elasticache_replication_group.redis.transit_encryption_enabled && aws_elasticache_replication_group.redis.transit_encryption_mode == "required"
    error_message = "TLS is required: clients must use rediss://"
  }
  assert {
    condition     = aws_elasticache_replication_group.redis.at_rest_encryption_enabled && aws_elasticache_replication_group.redis.kms_key_id == aws_kms_key.redis.arn
    error_message = "data at rest is encrypted with the customer-managed key"
  }
  assert {
    condition     = aws_elasticache_replication_group.redis.auth_token == null
    error_message = "the AUTH token never passes through Terraform (state, plan)"
  }
  assert {
    condition     = aws_elasticache_replication_group.redis.port == 6379 && aws_vpc_security_group_ingress_rule.from_cluster.from_port == 6379 && aws_vpc_security_group_ingress_rule.from_cluster.referenced_security_group_id == "sg-nodes"
    error_message = "Redis on 6379, from the cluster's nodes only"
  }
}

run "failover_needs_a_replica" {
  command = plan

  variables {
    replicas = 0
  }

  expect_failures = [var.replicas]
}
