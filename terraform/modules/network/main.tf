data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Subnets record their zone when created, so a later change in this list cannot move them; only the first zones (one per subnet) are taken.
  state = "available"
}

locals {
  # The subnet plan is the contract's (terraform/modules/contract), one subnet per zone and tier.
  azs = slice(data.aws_availability_zones.available.names, 0, length(var.subnets.public))
}

module "vpc" {
  #checkov:skip=CKV_TF_1:Registry modules are pinned by a ~> version constraint and reviewed on each upgrade; commit hashes would stop Renovate from proposing updates.
  source  = "terraform-aws-modules/vpc/aws"
  version = "~> 5.16"

  name = var.name
  cidr = var.cidr
  azs  = local.azs

  public_subnets   = var.subnets.public
  private_subnets  = var.subnets.private
  database_subnets = var.subnets.database

  create_database_subnet_group = true

  enable_nat_gateway = true
  # One NAT per AZ keeps a zone outage from cutting the others off; dev saves the cost.
  single_nat_gateway     = var.single_nat_gateway
  one_nat_gateway_per_az = !var.single_nat_gateway

  enable_dns_hostnames = true
  enable_dns_support   = true

  manage_default_security_group  = true
  default_security_group_ingress = []
  default_security_group_egress  = []

  enable_flow_log                                 = true
  create_flow_log_cloudwatch_log_group            = true
  create_flow_log_cloudwatch_iam_role             = true
  flow_log_max_aggregation_interval               = 60
  flow_log_cloudwatch_log_group_retention_in_days = var.flow_log_retention_days

  public_subnet_tags = {
    "kubernetes.io/role/elb" = "1"
  }
  private_subnet_tags = {
    "kubernetes.io/role/internal-elb" = "1"
  }
}

# Private DNS names the charts' ExternalName Services point at (postgresql.<env>.shopfloor.internal).
resource "aws_route53_zone" "internal" {
  name = var.internal_zone_name

  vpc {
    vpc_id = module.vpc.vpc_id
  }
}
