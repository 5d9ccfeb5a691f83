# The stack planned for one real environment with a mock AWS provider:
#   terraform test -var-file=../environments/<env>/terraform.tfvars
# It plans every module of ours as that environment wires it (types, counts, provider-side checks,
# the contract's and the modules' preconditions). The registry-module wrappers (network, eks) are
# replaced by their outputs below, so the test runs offline and online alike.
mock_provider "aws" {
  override_during = plan

  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_availability_zones" {
    defaults = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
  }
  mock_data "aws_ecr_repository" {
    defaults = {
      arn                      = "arn:aws:ecr:eu-west-1:111122223333:repository/shopfloor/frontend"
      repository_url           = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/shopfloor/frontend"
      encryption_configuration = [{ encryption_type = "KMS", kms_key = "arn:aws:kms:eu-west-1:111122223333:key/ecr" }]
    }
  }
  mock_data "aws_iam_openid_connect_provider" {
    defaults = { arn = "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:111122223333:key/mock" }
  }
  mock_resource "aws_iam_policy" {
    defaults = { arn = "arn:aws:iam::111122223333:policy/mock" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::111122223333:role/mock" }
  }
  mock_resource "aws_iam_openid_connect_provider" {
    defaults = { arn = "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com" }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:shopfloor/mock-AbCdEf" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::shopfloor-mock" }
  }
  mock_resource "aws_db_instance" {
    defaults = {
      address            = "shopfloor.mock.eu-west-1.rds.amazonaws.com"
      master_user_secret = [{ secret_arn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!db-mock-AbCdEf", kms_key_id = "arn:aws:kms:eu-west-1:111122223333:key/mock", secret_status = "active" }]
    }
  }
  mock_resource "aws_elasticache_replication_group" {
    defaults = { primary_endpoint_address = "master.shopfloor.mock.euw1.cache.amazonaws.com", port = 6379 }
  }
}

override_module {
  target = module.network
  outputs = {
    vpc_id                     = "vpc-0123456789abcdef0"
    vpc_cidr                   = "10.0.0.0/16"
    public_subnet_ids          = ["subnet-0000000000000000a", "subnet-0000000000000000b"]
    private_subnet_ids         = ["subnet-0000000000000001a", "subnet-0000000000000001b"]
    database_subnet_ids        = ["subnet-0000000000000002a", "subnet-0000000000000002b"]
    database_subnet_group_name = "shopfloor-mock"
    internal_zone_id           = "Z0123456789MOCK"
    internal_zone_name         = "mock.shopfloor.internal"
  }
}

override_module {
  target = module.eks
  outputs = {
    cluster_name                       = "shopfloor-mock"
    cluster_endpoint                   = "https://mock.eks.amazonaws.com"
    cluster_certificate_authority_data = "bW9jaw=="
    cluster_security_group_id          = "sg-0123456789abcdef0"
    oidc_provider_arn                  = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.mock"
    load_balancer_controller_role_arn  = "arn:aws:iam::111122223333:role/mock-aws-load-balancer-controller"
    cluster_autoscaler_role_arn        = "arn:aws:iam::111122223333:role/mock-cluster-autoscaler"
    service_account_role_arns = {
      catalog          = "arn:aws:iam::111122223333:role/mock-catalog"
      external-secrets = "arn:aws:iam::111122223333:role/mock-external-secrets"
    }
  }
}

run "the_environment_is_built_as_its_contract_says" {
  command = plan

  assert {
    condition     = output.contract.environment == var.environment && output.cluster_name == "shopfloor-${var.environment}"
    error_message = "the stack builds the environment its tfvars name"
  }
  assert {
    condition     = output.uploads_bucket == output.contract.buckets.images
    error_message = "the images bucket has the contract's name"
  }
  assert {
    condition     = (output.external_secrets_role_arn != null) == (output.platform == "eks")
    error_message = "External Secrets has an IRSA role on EKS and none on K3s (the node role reads there)"
  }
  assert {
    condition     = (output.rds_master_secret_arn != null) == (output.contract.data_stores.postgresql.kind == "rds")
    error_message = "RDS exists exactly where the contract says PostgreSQL is managed"
  }
  assert {
    condition     = (output.redis_endpoint != null) == (output.contract.data_stores.redis.kind == "elasticache")
    error_message = "ElastiCache exists exactly where the contract says Redis is managed"
  }
  assert {
    condition     = toset(keys(output.secret_arns)) == toset(keys(output.contract.secrets))
    error_message = "every secret of the contract is declared"
  }
  assert {
    condition     = output.log_group_name == "/shopfloor-${var.environment}/pods"
    error_message = "one log group per environment, named after it"
  }
  assert {
    condition     = (output.fluent_bit_role_arn != null) == (output.platform == "eks")
    error_message = "Fluent Bit has an IRSA role on EKS and none on K3s (the node role writes there)"
  }
  assert {
    condition     = output.platform == "eks" || module.logs.fluent_bit_policy_arn != null
    error_message = "on K3s the write policy exists, attached to the node role"
  }
  assert {
    condition     = (output.yace_role_arn != null) == (output.platform == "eks")
    error_message = "YACE has its IRSA role on EKS (RDS) and none on K3s"
  }
  assert {
    condition     = length(module.chaos_fis) == 0 && output.chaos_fis_experiment_template_ids == null
    error_message = "no FIS role or template unless chaos_fis_enabled"
  }
}

run "credentials_of_another_account_are_refused" {
  command = plan

  override_data {
    target = data.aws_caller_identity.current
    values = { account_id = "999999999999" }
  }

  expect_failures = [data.aws_caller_identity.current]
}

# chaos_fis_enabled (opt-in) where the contract says EKS and RDS (staging, prod): the FIS module is
# planned with the stack's cluster, database and VPC. Elsewhere (dev) the variable stays off: set
# there, the check block chaos_fis_needs_eks_and_rds warns and nothing is created. One more plan per
# environment.
run "chaos_fis_is_planned_where_eks_and_rds_exist" {
  command = plan

  variables {
    chaos_fis_enabled = run.the_environment_is_built_as_its_contract_says.platform == "eks" && run.the_environment_is_built_as_its_contract_says.contract.data_stores.postgresql.kind == "rds"
  }

  assert {
    condition     = length(module.chaos_fis) == (var.chaos_fis_enabled ? 1 : 0)
    error_message = "the FIS role, alarm and templates are planned exactly when enabled on EKS with RDS"
  }
  assert {
    condition     = length(flatten([for fis in module.chaos_fis : keys(fis.rendered_templates)])) == (var.chaos_fis_enabled ? 3 : 0)
    error_message = "every template of chaos/aws is planned (rds-failover, node-termination, az-network-disruption)"
  }
}
