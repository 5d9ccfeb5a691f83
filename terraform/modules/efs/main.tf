resource "aws_kms_key" "efs" {
  #checkov:skip=CKV2_AWS_64:The default key policy delegates to IAM in this account; the IAM policies that use the key are scoped to it, which is where access is reviewed.
  description         = "${var.name} EFS encryption"
  enable_key_rotation = true
}

resource "aws_efs_file_system" "shared" {
  creation_token   = var.name
  encrypted        = true
  kms_key_id       = aws_kms_key.efs.arn
  performance_mode = "generalPurpose"
  throughput_mode  = "elastic"

  lifecycle_policy {
    transition_to_ia = "AFTER_30_DAYS"
  }
}

resource "aws_efs_backup_policy" "shared" {
  file_system_id = aws_efs_file_system.shared.id

  backup_policy {
    status = "ENABLED"
  }
}

resource "aws_security_group" "efs" {
  name        = "${var.name}-efs"
  description = "NFS reachable only from the cluster nodes"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "from_cluster" {
  security_group_id            = aws_security_group.efs.id
  description                  = "NFS from the cluster"
  referenced_security_group_id = var.cluster_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = var.nfs_port
  to_port                      = var.nfs_port
}

resource "aws_efs_mount_target" "private" {
  count = length(var.subnet_ids)

  file_system_id  = aws_efs_file_system.shared.id
  subnet_id       = var.subnet_ids[count.index]
  security_groups = [aws_security_group.efs.id]
}

# One access point per consumer (the catalog's images, spec 3.5): a fixed POSIX identity (the
# charts' UID) and its own root directory, so a pod never sees the rest of the file system. The EFS
# CSI driver mounts it through a static PersistentVolume (volumeHandle <fs id>::<access point id>).
resource "aws_efs_access_point" "consumer" {
  for_each = var.access_points

  file_system_id = aws_efs_file_system.shared.id

  posix_user {
    uid = each.value.uid
    gid = each.value.gid
  }

  root_directory {
    path = each.value.path
    creation_info {
      owner_uid   = each.value.uid
      owner_gid   = each.value.gid
      permissions = "0750"
    }
  }

  tags = {
    Name = "${var.name}-${each.key}"
  }
}

# Encrypted transport only, and only through an access point: a mount of the bare file system
# (which would see every consumer's directory) is refused. The EFS CSI driver mounts with TLS.
resource "aws_efs_file_system_policy" "shared" {
  file_system_id = aws_efs_file_system.shared.id
  policy         = jsonencode(local.file_system_policy)
}

locals {
  file_system_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DenyUnencryptedTransport"
        Effect    = "Deny"
        Principal = { AWS = "*" }
        Action    = "*"
        Resource  = aws_efs_file_system.shared.arn
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
      {
        Sid       = "MountThroughAccessPointsOnly"
        Effect    = "Allow"
        Principal = { AWS = "*" }
        Action    = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
        Resource  = aws_efs_file_system.shared.arn
        Condition = {
          StringEquals = { "elasticfilesystem:AccessPointArn" = [for point in aws_efs_access_point.consumer : point.arn] }
        }
      },
    ]
  }
}
