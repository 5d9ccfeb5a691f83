# The one stack every environment applies. What an environment decides that other layers also read
# is in environments/<env>/infrastructure.yaml, which the contract module turns into every name,
# address and port; what only Terraform needs (sizes, retention) is in
# terraform/environments/<env>/terraform.tfvars; the state key is in its backend.hcl.
module "contract" {
  source = "../modules/contract"

  environment = var.environment
}

data "aws_partition" "current" {}

# Credentials of another account than the environment's stop the plan here, before anything is
# created where it does not belong.
data "aws_caller_identity" "current" {
  lifecycle {
    postcondition {
      condition     = self.account_id == module.contract.account_id
      error_message = "These credentials are for account ${self.account_id}, but ${module.contract.source_file} says ${module.contract.account_id}."
    }
  }
}

locals {
  name     = module.contract.name
  platform = module.contract.platform
  on_eks   = local.platform == "eks"
  on_k3s   = local.platform == "k3s"
  stores   = module.contract.data_stores
  accounts = module.contract.service_accounts

  cluster_security_group_id = one(concat(
    module.eks[*].cluster_security_group_id,
    module.k3s[*].cluster_security_group_id,
  ))
}

module "network" {
  source = "../modules/network"

  name               = local.name
  cidr               = module.contract.vpc.cidr
  subnets            = module.contract.subnets
  single_nat_gateway = var.single_nat_gateway
  internal_zone_name = module.contract.internal_zone
}

module "eks" {
  source = "../modules/eks"
  count  = local.on_eks ? 1 : 0

  name                = local.name
  vpc_id              = module.network.vpc_id
  private_subnet_ids  = module.network.private_subnet_ids
  api_allowed_cidrs   = var.api_allowed_cidrs
  node_instance_types = var.node_instance_types
  node_min_size       = var.node_min_size
  node_max_size       = var.node_max_size

  service_accounts = local.accounts
  service_account_policy_arns = {
    catalog          = [module.s3.access_policy_arn]
    external-secrets = [module.secrets.reader_policy_arn]
  }
}

module "k3s" {
  source = "../modules/k3s"
  count  = local.on_k3s ? 1 : 0

  name                = local.name
  region              = module.contract.region
  vpc_id              = module.network.vpc_id
  public_subnet_ids   = module.network.public_subnet_ids
  private_subnet_ids  = module.network.private_subnet_ids
  api_allowed_cidrs   = concat([module.network.vpc_cidr], var.api_allowed_cidrs)
  agent_instance_type = var.node_instance_types[0]
  agent_min_size      = var.node_min_size
  agent_max_size      = var.node_max_size
  node_role_name      = module.contract.node_role.name
  edge_ports          = [module.contract.ports.http, module.contract.ports.https]
  deletion_protection = var.deletion_protection
  node_port = {
    enabled      = module.contract.frontend_node_port_enabled
    port         = module.contract.ports.frontend_node_port
    client_cidrs = concat([module.network.vpc_cidr], var.node_port_client_cidrs)
  }
  # No IRSA on K3s: the node role carries what the pods need (the catalog's bucket, External
  # Secrets' read access), and the pods' NetworkPolicies decide which of them reach it.
  node_policy_arns = [module.s3.access_policy_arn, module.secrets.reader_policy_arn]
  ecr_kms_key_arns = [module.ecr.kms_key_arn]
  # People: the IdP's groups become the groups argocd/security binds (the same as EKS access entries).
  oidc = var.k3s_oidc
}

module "ecr" {
  source = "../modules/ecr"

  create_repositories = var.owns_account_resources
}

module "rds" {
  source = "../modules/rds"
  count  = local.stores.postgresql.kind == "rds" ? 1 : 0

  identifier                = local.name
  vpc_id                    = module.network.vpc_id
  db_subnet_group_name      = module.network.database_subnet_group_name
  cluster_security_group_id = local.cluster_security_group_id
  instance_class            = var.rds_instance_class
  deletion_protection       = var.deletion_protection
  backup_retention_days     = var.backup_retention_days
  internal_zone_id          = module.network.internal_zone_id
  dns_name                  = local.stores.postgresql.external_dns
}

module "elasticache" {
  source = "../modules/elasticache"
  count  = local.stores.redis.kind == "elasticache" ? 1 : 0

  name                      = local.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.database_subnet_ids
  cluster_security_group_id = local.cluster_security_group_id
  node_type                 = var.redis_node_type
  port                      = local.stores.redis.port
  internal_zone_id          = module.network.internal_zone_id
  dns_name                  = local.stores.redis.external_dns
}

module "secrets" {
  source = "../modules/secrets"

  name                 = local.name
  secrets              = module.contract.secrets
  secrets_prefix       = module.contract.secrets_prefix
  region               = module.contract.region
  recovery_window_days = var.deletion_protection ? 30 : 7
  # The database bootstrap reads the RDS master secret through External Secrets.
  grant_database_master_secret = local.stores.postgresql.kind == "rds"
  database_master_secret = local.stores.postgresql.kind == "rds" ? {
    arn         = module.rds[0].master_user_secret_arn
    kms_key_arn = module.rds[0].kms_key_arn
  } : null
}

# Attached by name once the role exists (see the secrets module): External Secrets' IRSA role on
# EKS, the node role on K3s.
resource "aws_iam_role_policy_attachment" "database_master_reader" {
  count = local.stores.postgresql.kind == "rds" ? 1 : 0

  role       = local.on_eks ? local.accounts["external-secrets"].role_name : module.contract.node_role.name
  policy_arn = module.secrets.database_master_reader_policy_arn

  depends_on = [module.eks, module.k3s]
}

module "s3" {
  source = "../modules/s3"

  bucket_name   = module.contract.buckets.images
  force_destroy = !var.deletion_protection
}

module "efs" {
  source = "../modules/efs"

  name                      = local.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.private_subnet_ids
  cluster_security_group_id = local.cluster_security_group_id
  nfs_port                  = module.contract.ports.nfs
  access_points = {
    catalog-images = {
      path = module.contract.efs.catalog_images_path
      uid  = module.contract.efs.uid
      gid  = module.contract.efs.gid
    }
  }
}

module "github_oidc" {
  source = "../modules/github-oidc"

  name_prefix         = local.name
  github_repository   = var.github_repository
  create_provider     = var.owns_account_resources
  ecr_repository_arns = module.ecr.repository_arns
  ecr_kms_key_arn     = module.ecr.kms_key_arn
  state_bucket_arn    = "arn:${data.aws_partition.current.partition}:s3:::${var.state_bucket}"
}

# FR-6.6, optional: the same release as GitHub Actions, run by CodePipeline and CodeBuild.
module "aws_pipeline" {
  source = "../modules/codepipeline"
  count  = var.aws_pipeline_enabled ? 1 : 0

  name                = local.name
  account_id          = module.contract.account_id
  region              = module.contract.region
  github_repository   = var.github_repository
  ecr_repository_arns = module.ecr.repository_arns
  ecr_kms_key_arn     = module.ecr.kms_key_arn
}

# The ALB (EKS) serves the shop's host with this certificate; DNS validation records are an output
# because the public zone may live in another account. On K3s, cert-manager issues Traefik's.
resource "aws_acm_certificate" "shop" {
  count = local.on_eks ? 1 : 0

  domain_name       = module.contract.host
  validation_method = "DNS"

  lifecycle {
    create_before_destroy = true
  }
}

# Central logs (issue 13): the pods' log group, its key, Fluent Bit's write access (IRSA on EKS,
# the node role on K3s) and the saved Logs Insights queries.
module "logs" {
  source = "../modules/logs"

  name              = local.name
  platform          = local.platform
  retention_days    = var.log_retention_days
  oidc_provider_arn = local.on_eks ? module.eks[0].oidc_provider_arn : null
  node_role_name    = local.on_k3s ? module.k3s[0].node_role_name : null
}

# YACE's IRSA role (CloudWatch's RDS DatabaseConnections for RDSConnectionsNearLimit): EKS only,
# where the shop's database is RDS; K3s has no OIDC provider and runs PostgreSQL in the cluster.
module "yace_iam" {
  source = "../modules/yace-iam"
  count  = local.on_eks ? 1 : 0

  name_prefix       = local.name
  oidc_provider_arn = module.eks[0].oidc_provider_arn
  regions           = [module.contract.region]
}

# Opt-in AWS fault injection (docs/chaos.md): the FIS role, the ALB 5xx stop alarm and the
# experiment templates of chaos/aws. They reboot RDS, terminate EKS nodes and cut one zone's
# private subnets, so they exist only where the contract says EKS and RDS.
locals {
  chaos_fis = var.chaos_fis_enabled && local.on_eks && local.stores.postgresql.kind == "rds"
}

check "chaos_fis_needs_eks_and_rds" {
  assert {
    condition     = !var.chaos_fis_enabled || local.chaos_fis
    error_message = "chaos_fis_enabled is set, but ${module.contract.source_file} says ${local.platform} and PostgreSQL ${local.stores.postgresql.kind}: the FIS templates need EKS and RDS, so none are created."
  }
}

data "aws_availability_zones" "chaos" {
  #checkov:skip=CKV_AWS_394:Only names the zone az-network-disruption cuts off: the network module's first zone, taken from the same list in the same order.
  count = local.chaos_fis ? 1 : 0
  state = "available"
}

module "chaos_fis" {
  source = "../modules/chaos-fis"
  count  = local.chaos_fis ? 1 : 0

  name                   = local.name
  cluster_name           = one(module.eks[*].cluster_name)
  db_instance_identifier = local.name
  vpc_id                 = module.network.vpc_id
  availability_zone      = data.aws_availability_zones.chaos[0].names[0]

  # The templates name the database and the cluster: create them after both.
  depends_on = [module.rds, module.eks]
}
