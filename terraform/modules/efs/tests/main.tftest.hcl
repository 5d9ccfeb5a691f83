# EFS for the catalog's images (spec 3.5): encrypted, reachable from the cluster only, mounted
# through its own access point as the charts' user, over TLS only.
mock_provider "aws" {
  override_during = plan

  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/efs" }
  }
  mock_resource "aws_efs_file_system" {
    defaults = { arn = "arn:aws:elasticfilesystem:eu-west-1:123456789012:file-system/fs-0123456789abcdef0", id = "fs-0123456789abcdef0" }
  }
  mock_resource "aws_efs_access_point" {
    defaults = { arn = "arn:aws:elasticfilesystem:eu-west-1:123456789012:access-point/fsap-0123456789abcdef0" }
  }
}

variables {
  name                      = "shopfloor-prod"
  vpc_id                    = "vpc-mock"
  subnet_ids                = ["subnet-a", "subnet-b", "subnet-c"]
  cluster_security_group_id = "sg-nodes"
  access_points = {
    catalog-images = { path = "/catalog/images", uid = 10001, gid = 10001 }
  }
}

run "encrypted_and_backed_up" {
  command = plan

  assert {
    condition     = aws_efs_file_system.shared.encrypted && aws_efs_file_system.shared.kms_key_id == aws_kms_key.efs.arn && aws_kms_key.efs.enable_key_rotation
    error_message = "the file system is encrypted with a rotating customer-managed key"
  }
  assert {
    condition     = aws_efs_backup_policy.shared.backup_policy[0].status == "ENABLED"
    error_message = "backups are on"
  }
  assert {
    condition     = length(aws_efs_mount_target.private) == 3
    error_message = "a mount target in every zone's private subnet"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.from_cluster.referenced_security_group_id == "sg-nodes" && aws_vpc_security_group_ingress_rule.from_cluster.from_port == 2049
    error_message = "NFS from the cluster's nodes only"
  }
}

run "the_catalog_mounts_its_own_directory_as_its_own_user" {
  command = plan

  assert {
    condition     = aws_efs_access_point.consumer["catalog-images"].root_directory[0].path == "/catalog/images" && aws_efs_access_point.consumer["catalog-images"].posix_user[0].uid == 10001
    error_message = "the catalog's access point is /catalog/images as UID 10001"
  }
  assert {
    condition     = jsondecode(aws_efs_file_system_policy.shared.policy).Statement[0].Effect == "Deny" && jsondecode(aws_efs_file_system_policy.shared.policy).Statement[0].Condition.Bool["aws:SecureTransport"] == "false"
    error_message = "unencrypted transport is refused: ${aws_efs_file_system_policy.shared.policy}"
  }
  assert {
    condition     = jsondecode(aws_efs_file_system_policy.shared.policy).Statement[1].Action == ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"] && jsondecode(aws_efs_file_system_policy.shared.policy).Statement[1].Condition.StringEquals["elasticfilesystem:AccessPointArn"] == ["arn:aws:elasticfilesystem:eu-west-1:123456789012:access-point/fsap-0123456789abcdef0"]
    error_message = "mounts (no root access) are allowed through the access points only: ${aws_efs_file_system_policy.shared.policy}"
  }
}

run "an_access_point_at_the_root_is_refused" {
  command = plan

  variables {
    access_points = {
      everything = { path = "/", uid = 0, gid = 0 }
    }
  }

  expect_failures = [var.access_points]
}
