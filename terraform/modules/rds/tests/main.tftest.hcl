# PostgreSQL on RDS as planned with a mock AWS provider: Multi-AZ, encrypted, private, TLS only,
# the master password kept by RDS in Secrets Manager (never in state), and deletion protection that
# also decides whether a final snapshot is taken.
mock_provider "aws" {
  override_during = plan

  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/rds" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/shopfloor-prod-rds-monitoring" }
  }
}

variables {
  identifier                = "shopfloor-prod"
  vpc_id                    = "vpc-mock"
  db_subnet_group_name      = "shopfloor-prod"
  cluster_security_group_id = "sg-nodes"
  internal_zone_id          = "Z0MOCK"
  dns_name                  = "postgresql.prod.shopfloor.internal"
}

run "prod_defaults_are_multi_az_encrypted_and_protected" {
  command = plan

  assert {
    condition     = aws_db_instance.postgres.multi_az
    error_message = "the database is Multi-AZ"
  }
  assert {
    condition     = aws_db_instance.postgres.storage_encrypted && aws_db_instance.postgres.kms_key_id == aws_kms_key.rds.arn && aws_kms_key.rds.enable_key_rotation
    error_message = "storage is encrypted with a rotating customer-managed key"
  }
  assert {
    condition     = !aws_db_instance.postgres.publicly_accessible
    error_message = "the database has no public address"
  }
  assert {
    condition     = aws_db_instance.postgres.manage_master_user_password && aws_db_instance.postgres.password == null
    error_message = "RDS keeps the master password in Secrets Manager; Terraform never sees it"
  }
  assert {
    condition     = one([for parameter in aws_db_parameter_group.postgres.parameter : parameter.value if parameter.name == "rds.force_ssl"]) == "1"
    error_message = "connections without TLS are refused (rds.force_ssl)"
  }
  assert {
    condition     = aws_db_instance.postgres.deletion_protection && !aws_db_instance.postgres.skip_final_snapshot
    error_message = "by default (prod) the database refuses deletion and would leave a final snapshot"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.from_cluster.referenced_security_group_id == "sg-nodes"
    error_message = "PostgreSQL is reachable from the cluster's nodes only"
  }
  assert {
    # Exactly the PostgreSQL port the services connect to (the contract's 5432): a rule on another
    # port leaves the security group dropping every connection from the cluster.
    condition     = aws_vpc_security_group_ingress_rule.from_cluster.ip_protocol == "tcp" && aws_vpc_security_group_ingress_rule.from_cluster.from_port == 5432 && aws_vpc_security_group_ingress_rule.from_cluster.to_port == 5432
    error_message = "the database's security group admits PostgreSQL (tcp/5432) from the cluster, got ${aws_vpc_security_group_ingress_rule.from_cluster.ip_protocol}/${aws_vpc_security_group_ingress_rule.from_cluster.from_port}-${aws_vpc_security_group_ingress_rule.from_cluster.to_port}"
  }
  assert {
    condition     = jsondecode(aws_iam_role.monitoring.assume_role_policy).Statement[0].Principal == { Service = "monitoring.rds.amazonaws.com" }
    error_message = "only RDS enhanced monitoring may assume the monitoring role"
  }
}

run "without_protection_destroy_skips_the_snapshot" {
  command = plan

  variables {
    deletion_protection = false
  }

  assert {
    condition     = !aws_db_instance.postgres.deletion_protection && aws_db_instance.postgres.skip_final_snapshot
    error_message = "dev and staging can be torn down without a final snapshot"
  }
}
