# Only what Terraform alone needs. The facts other layers read too (platform, account, region, VPC,
# host, where the data stores run) are in environments/staging/infrastructure.yaml.
environment            = "staging"
single_nat_gateway     = true
node_instance_types    = ["t3.large"]
node_min_size          = 2
node_max_size          = 4
rds_instance_class     = "db.t4g.small"
redis_node_type        = "cache.t4g.small"
deletion_protection    = false
github_repository      = "shopfloor/shopfloor"
state_bucket           = "shopfloor-terraform-state"
owns_account_resources = false
