# The one stack every environment applies: what differs lives in environments/<env>/terraform.tfvars
# (and the state key in environments/<env>/backend.hcl).
data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  name     = "shopfloor-${var.environment}"
  internal = "${var.environment}.shopfloor.internal"
  on_eks   = var.platform == "eks"
  on_k3s   = var.platform == "k3s"

  cluster_security_group_id = one(concat(
    module.eks[*].cluster_security_group_id,
    module.k3s[*].cluster_security_group_id,
  ))
}

module "network" {
  source = "../../modules/network"

  name               = local.name
  cidr               = var.vpc_cidr
  az_count           = var.az_count
  single_nat_gateway = var.single_nat_gateway
  internal_zone_name = local.internal
}

module "eks" {
  source = "../../modules/eks"
  count  = local.on_eks ? 1 : 0

  name                = local.name
  vpc_id              = module.network.vpc_id
  private_subnet_ids  = module.network.private_subnet_ids
  api_allowed_cidrs   = var.api_allowed_cidrs
  node_instance_types = var.node_instance_types
  node_min_size       = var.node_min_size
  node_max_size       = var.node_max_size

  service_accounts = {
    catalog = {
      namespace       = "shopfloor"
      service_account = "catalog"
      policy_arns     = [module.s3.access_policy_arn]
    }
  }
}

module "k3s" {
  source = "../../modules/k3s"
  count  = local.on_k3s ? 1 : 0

  name                = local.name
  region              = var.region
  vpc_id              = module.network.vpc_id
  private_subnet_ids  = module.network.private_subnet_ids
  api_allowed_cidrs   = concat([module.network.vpc_cidr], var.api_allowed_cidrs)
  agent_instance_type = var.node_instance_types[0]
  agent_min_size      = var.node_min_size
  agent_max_size      = var.node_max_size
  # No IRSA on K3s: the catalog reaches its bucket with the node role.
  node_policy_arns = [module.s3.access_policy_arn]
  ecr_kms_key_arns = [module.ecr.kms_key_arn]
}

module "ecr" {
  source = "../../modules/ecr"

  create_repositories = var.owns_account_resources
}

module "rds" {
  source = "../../modules/rds"

  identifier                = local.name
  vpc_id                    = module.network.vpc_id
  db_subnet_group_name      = module.network.database_subnet_group_name
  cluster_security_group_id = local.cluster_security_group_id
  instance_class            = var.rds_instance_class
  deletion_protection       = var.deletion_protection
  backup_retention_days     = var.backup_retention_days
  internal_zone_id          = module.network.internal_zone_id
  dns_name                  = "postgresql.${local.internal}"
}

module "elasticache" {
  source = "../../modules/elasticache"

  name                      = local.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.database_subnet_ids
  cluster_security_group_id = local.cluster_security_group_id
  node_type                 = var.redis_node_type
  internal_zone_id          = module.network.internal_zone_id
  dns_name                  = "redis.${local.internal}"
}

module "s3" {
  source = "../../modules/s3"

  # The account id keeps the global bucket name unique without writing it down.
  bucket_name   = "${local.name}-images-${data.aws_caller_identity.current.account_id}"
  force_destroy = !var.deletion_protection
}

module "efs" {
  source = "../../modules/efs"

  name                      = local.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.private_subnet_ids
  cluster_security_group_id = local.cluster_security_group_id
}

module "github_oidc" {
  source = "../../modules/github-oidc"

  name_prefix         = local.name
  github_repository   = var.github_repository
  create_provider     = var.owns_account_resources
  ecr_repository_arns = module.ecr.repository_arns
  ecr_kms_key_arn     = module.ecr.kms_key_arn
  state_bucket_arn    = "arn:${data.aws_partition.current.partition}:s3:::${var.state_bucket}"
}

# The ALB (EKS) or Traefik (K3s) serves the shop's host with this certificate; DNS validation
# records are an output because the public zone may live in another account.
resource "aws_acm_certificate" "shop" {
  domain_name       = var.host
  validation_method = "DNS"

  lifecycle {
    create_before_destroy = true
  }
}
