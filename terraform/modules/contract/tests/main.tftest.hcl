# The contract of each real environment (environments/<env>/infrastructure.yaml), evaluated by
# terraform itself: the names and addresses other layers rely on.

run "prod_spans_three_zones" {
  command = plan

  variables {
    environment = "prod"
  }

  assert {
    condition     = output.subnets.database == ["10.30.64.0/20", "10.30.80.0/20", "10.30.96.0/20"]
    error_message = "prod's database subnets (RDS, ElastiCache) are one /20 per zone from .64: ${jsonencode(output.subnets.database)}"
  }
  assert {
    condition     = output.subnets.public == ["10.30.0.0/22", "10.30.4.0/22", "10.30.8.0/22"]
    error_message = "prod's public subnets (the ALB) are one /22 per zone: ${jsonencode(output.subnets.public)}"
  }
  assert {
    condition     = output.subnets.private == ["10.30.128.0/20", "10.30.144.0/20", "10.30.160.0/20"]
    error_message = "prod's private subnets (nodes) are one /20 per zone from .128: ${jsonencode(output.subnets.private)}"
  }
  assert {
    condition     = output.service_accounts["external-secrets"].role_name == "shopfloor-prod-external-secrets"
    error_message = "the External Secrets role is shopfloor-<env>-external-secrets, the name its add-on annotates"
  }
  assert {
    condition     = output.service_accounts["external-secrets"].role_arn == "arn:aws:iam::111122223333:role/shopfloor-prod-external-secrets"
    error_message = "role ARNs are built from the environment's account"
  }
  assert {
    condition     = output.service_accounts["external-secrets"].namespace == "external-secrets" && output.service_accounts["external-secrets"].service_account == "external-secrets"
    error_message = "the role trusts the add-on's ServiceAccount external-secrets/external-secrets"
  }
  assert {
    condition     = output.secret_store.auth == "irsa" && output.node_role == null
    error_message = "on EKS External Secrets authenticates with its IRSA role"
  }
  assert {
    condition     = output.data_stores.redis.url_scheme == "rediss" && output.data_stores.redis.tls_required && output.data_stores.redis.auth_required
    error_message = "ElastiCache has TLS and an AUTH token: clients must use rediss:// with a password"
  }
  assert {
    condition     = output.secrets.redis.name == "shopfloor/prod/redis" && startswith(output.secrets.redis.name, output.secrets_prefix)
    error_message = "the Redis AUTH secret is under the prefix External Secrets may read"
  }
  assert {
    condition     = output.buckets.images == "shopfloor-prod-images-111122223333"
    error_message = "the images bucket name ends in the account id"
  }
  assert {
    condition     = output.vpc.tags == { Name = "shopfloor-prod" }
    error_message = "the Load Balancer Controller finds the VPC by its Name tag"
  }
}

run "dev_runs_k3s_with_in_cluster_data_stores" {
  command = plan

  variables {
    environment = "dev"
  }

  assert {
    condition     = output.platform == "k3s" && output.secret_store.auth == "node-role"
    error_message = "K3s has no IRSA: External Secrets uses the node role"
  }
  assert {
    condition     = alltrue([for account in values(output.service_accounts) : account.role_arn == null])
    error_message = "no IRSA role exists on K3s"
  }
  assert {
    condition     = output.node_role.name == "shopfloor-dev-k3s-node"
    error_message = "the K3s node role is shopfloor-<env>-k3s-node"
  }
  assert {
    condition     = length(output.subnets.database) == 2 && output.subnets.database[1] == "10.10.80.0/20"
    error_message = "dev spans two zones"
  }
  assert {
    condition     = !contains(keys(output.secrets), "redis") && contains(output.secrets.postgresql.properties, "postgres-password")
    error_message = "dev's in-cluster Redis has no AUTH secret; its in-cluster PostgreSQL needs a superuser password"
  }
  assert {
    condition     = output.data_stores.postgresql.chart_mode == "inCluster" && output.data_stores.redis.url_scheme == "redis"
    error_message = "dev runs PostgreSQL and Redis in the cluster"
  }
  assert {
    condition     = output.edge.kind == "nlb" && output.edge.certificates == "cert-manager"
    error_message = "K3s is reached through an NLB in front of Traefik, with cert-manager certificates"
  }
}

run "staging_uses_managed_data_stores" {
  command = plan

  variables {
    environment = "staging"
  }

  assert {
    condition     = output.data_stores.postgresql.external_dns == "postgresql.staging.shopfloor.internal" && output.data_stores.postgresql.tls_required
    error_message = "staging's services reach RDS through its private DNS name, over TLS"
  }
  assert {
    condition     = !contains(output.secrets.postgresql.properties, "postgres-password")
    error_message = "on RDS the master password is RDS's own secret, not ours"
  }
}
