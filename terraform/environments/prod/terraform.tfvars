# Only what Terraform alone needs. The facts other layers read too (platform, account, region, VPC,
# host, where the data stores run) are in environments/prod/infrastructure.yaml.
environment            = "prod"
single_nat_gateway     = false
node_instance_types    = ["m6i.large"]
node_min_size          = 3
node_max_size          = 6
rds_instance_class     = "db.m6g.large"
redis_node_type        = "cache.m6g.large"
deletion_protection    = true
backup_retention_days  = 14
github_repository      = "shopfloor/shopfloor"
state_bucket           = "shopfloor-terraform-state"
owns_account_resources = false
